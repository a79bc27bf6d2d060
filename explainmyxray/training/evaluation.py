"""Evaluation while training, through the generator's real path and the project's own metrics.

At each evaluation the model being trained writes reports for a fixed subset of the validation
split with :func:`explainmyxray.models.vision_language.medgemma.generation.generate_batch` (the
function the ``generate: medgemma`` step calls, here on a :class:`MedGemmaRunner` that holds the
model in training), the answers are parsed by
:func:`~explainmyxray.report.from_text.report_from_text` (which calls
:func:`explainmyxray.report.parse.parse_report`), and the reports are scored against the
examples' reference findings by :mod:`explainmyxray.scoring` (soft-match accuracy, finding and
CheXpert F1), with bootstrap intervals.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from explainmyxray.core.case import Case
from explainmyxray.models.vision_language.medgemma.runner import MedGemmaRunner
from explainmyxray.models.vision_language.medgemma.spec import medgemma_4b_spec

from .dataset import TrainingExample

EVAL_RESAMPLES = 200
HEADLINE_METRICS = (
    "soft_match_accuracy",
    "finding_f1_micro",
    "finding_f1_macro",
    "chexpert14_f1_micro",
    "finding_location_f1_micro",
)
SHOWN_ANSWERS = 3


def training_runner(model: Any, processor: Any) -> MedGemmaRunner:
    """A :class:`MedGemmaRunner` around a model in training (nothing is loaded or copied)."""
    import torch

    runner = MedGemmaRunner(medgemma_4b_spec())
    parameter = next(model.parameters())
    runner.model, runner.processor = model, processor
    runner.device = str(parameter.device)
    floats = [p.dtype for p in model.parameters() if p.is_floating_point()]
    runner.compute_dtype = torch.bfloat16 if torch.bfloat16 in floats else torch.float32
    runner.precision = "fp32" if runner.compute_dtype == torch.float32 else "bf16"
    return runner


def evaluate_generation(
    runner: MedGemmaRunner,
    examples: Sequence[TrainingExample],
    *,
    batch_size: int,
    max_new_tokens: int,
    prompt: str | None = None,
) -> dict[str, Any]:
    """Generate, parse and score reports for ``examples``; the metrics and a few answers.

    ``prompt`` is the user turn's text (default: the generator's :func:`build_prompt`).
    """
    from explainmyxray.models.vision_language.medgemma.generation import (
        GenerationSettings,
        generate_batch,
    )
    from explainmyxray.models.vision_language.medgemma.prompt import build_prompt
    from explainmyxray.report.from_text import report_from_text
    from explainmyxray.scoring.evaluate import (
        compare_case,
        default_vocabulary,
        evaluate_comparisons,
    )
    from explainmyxray.scoring.references import Reference

    from .collator import load_image

    start = time.perf_counter()
    settings = GenerationSettings(max_new_tokens=max_new_tokens)
    prompt = build_prompt() if prompt is None else prompt
    vocabulary = default_vocabulary()
    comparisons = []
    answers: list[dict[str, str]] = []
    empty = 0
    for first in range(0, len(examples), batch_size):
        chunk = examples[first : first + batch_size]
        images = [load_image(e.image) for e in chunk]
        texts = generate_batch(runner, images, [prompt] * len(chunk), settings)
        for example, text in zip(chunk, texts, strict=True):
            report = report_from_text(text, "medgemma")
            empty += not text.strip()
            case = Case(id=example.key, source=str(example.image), report=report)
            reference = Reference(case_key=example.key, findings=example.findings)
            comparisons.append(compare_case(case, reference, vocabulary))
            if len(answers) < SHOWN_ANSWERS:
                answers.append({"key": example.key, "answer": text})
    metrics, _ = evaluate_comparisons(comparisons, n_resamples=EVAL_RESAMPLES)
    result: dict[str, Any] = {
        name: metrics[name].estimate for name in HEADLINE_METRICS if name in metrics
    }
    soft = metrics.get("soft_match_accuracy")
    if soft is not None:
        result["soft_match_accuracy_ci"] = [soft.low, soft.high]
    result.update(
        n_examples=len(examples),
        empty_answers=empty,
        seconds=round(time.perf_counter() - start, 2),
        answers=answers,
    )
    return result


def make_generation_callback(
    examples: Sequence[TrainingExample],
    processor: Any,
    *,
    batch_size: int,
    max_new_tokens: int,
    every: int | None = None,
    prompt: str | None = None,
    on_result: Callable[[dict[str, Any]], None] | None = None,
):
    """A ``TrainerCallback`` that runs :func:`evaluate_generation` after each of the Trainer's
    evaluations, or every ``every`` optimizer steps when the Trainer does not evaluate."""
    from transformers import TrainerCallback

    class GenerationEvalCallback(TrainerCallback):
        """Generate → parse → score on the validation subset."""

        def __init__(self) -> None:
            self.history: list[dict[str, Any]] = []

        def run(self, model: Any, state: Any, metrics: dict | None = None) -> dict[str, Any]:
            was_training = model.training
            model.eval()
            try:
                result = evaluate_generation(
                    training_runner(model, processor),
                    examples,
                    batch_size=batch_size,
                    max_new_tokens=max_new_tokens,
                    prompt=prompt,
                )
            finally:
                model.train(was_training)
            result = {"step": state.global_step, "epoch": state.epoch, **result}
            self.history.append(result)
            numbers = {
                f"eval_gen_{k}": v
                for k, v in result.items()
                if k in HEADLINE_METRICS and v is not None
            }
            if metrics is not None:
                metrics.update(numbers)
            state.log_history.append({"step": state.global_step, **numbers})
            if on_result is not None:
                on_result(result)
            return result

        def on_evaluate(self, args, state, control, model=None, metrics=None, **kwargs):
            if every is None and model is not None and examples:
                self.run(model, state, metrics)
            return control

        def on_step_end(self, args, state, control, model=None, **kwargs):
            if every and model is not None and examples and state.global_step % every == 0:
                self.run(model, state)
            return control

    return GenerationEvalCallback()
