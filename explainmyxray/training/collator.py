"""Batches for supervised fine-tuning: Gemma 3 chat turns with the loss on the answer only.

Each example is the generator's own user turn (the image, then the instruction from
:mod:`explainmyxray.models.vision_language.medgemma.prompt`) followed by a model turn holding the
target report. The prompt is tokenized exactly as
:func:`explainmyxray.models.vision_language.medgemma.generation.prepare_inputs`
tokenizes it at inference (chat template with the generation prompt, then the processor, which
expands the image into its soft tokens); the answer is the rest of the chat template's rendering
of the whole conversation (the report, ``<end_of_turn>``). Labels are the answer's token ids and
-100 everywhere else: prompt, image tokens and padding. Batches are padded on the right.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from explainmyxray.core.errors import ConfigError, InputError
from explainmyxray.models.vision_language.medgemma.prompt import build_prompt, chat_messages

IGNORE_INDEX = -100


def load_image(path: Path | str) -> Any:
    """The image as the generator sees it: decoded like the ``image`` step, as 8-bit RGB."""
    from explainmyxray.imaging import read_xray
    from explainmyxray.models.vision_language.medgemma.generation import to_pil

    image, _ = read_xray(Path(path))
    if image.pixels is None:
        raise InputError(f"{path}: decoded to no pixels")
    return to_pil(image.pixels)


def conversation_texts(processor: Any, report: str, prompt: str | None = None) -> tuple[str, str]:
    """``(prompt_text, answer_text)``: the chat template's prompt with the generation prompt, and
    what the template writes after it for a model turn holding ``report``."""
    prompt = build_prompt() if prompt is None else prompt
    messages = chat_messages(prompt)
    prompt_text = processor.apply_chat_template(
        messages, add_generation_prompt=True, tokenize=False
    )
    answer_turn = {"role": "assistant", "content": [{"type": "text", "text": report}]}
    full_text = processor.apply_chat_template([*messages, answer_turn], tokenize=False)
    if not full_text.startswith(prompt_text):
        raise ConfigError(
            "the chat template renders the prompt differently with and without an answer; "
            "cannot tell the answer tokens apart"
        )
    return prompt_text, full_text[len(prompt_text) :]


def prompt_length(processor: Any, prompt: str | None = None) -> int:
    """Tokens of the prompt with its image (the same for every image: it is resized)."""
    from PIL import Image

    prompt_text, _ = conversation_texts(processor, "", prompt)
    blank = Image.new("RGB", (32, 32))
    encoded = processor(text=[prompt_text], images=[[blank]], add_special_tokens=False)
    return len(encoded["input_ids"][0])


def count_truncated(
    processor: Any, reports: Sequence[str], max_length: int, prompt: str | None = None
) -> int:
    """How many of ``reports`` the collator will cut to fit ``max_length`` (it cuts the answer,
    never the prompt); counted here once because collation runs in loader worker processes."""
    room = max_length - prompt_length(processor, prompt)
    answers = [conversation_texts(processor, report, prompt)[1] for report in reports]
    if not answers:
        return 0
    lengths = processor.tokenizer(answers, add_special_tokens=False)["input_ids"]
    return sum(len(ids) > room for ids in lengths)


@dataclass
class ReportCollator:
    """Turns ``{"image": path, "report": text}`` rows into model inputs with masked labels.

    ``prompt`` is the user turn's text (default: the generator's :func:`build_prompt`);
    ``truncated`` counts the answers this instance cut (per loader worker process).
    """

    processor: Any
    max_length: int
    pixel_dtype: Any = None
    prompt: str | None = None
    truncated: int = 0

    def encode(self, image: Any, report: str) -> dict[str, list[int] | Any]:
        """One example: token ids, token types, labels, pixel values (unpadded)."""
        prompt_text, answer_text = conversation_texts(self.processor, report, self.prompt)
        prompt = self.processor(
            text=[prompt_text],
            images=[[image]],
            add_special_tokens=False,
            return_tensors="pt",
        )
        prompt_ids = prompt["input_ids"][0].tolist()
        token_types = prompt["token_type_ids"][0].tolist() if "token_type_ids" in prompt else None
        answer_ids = self.processor.tokenizer(answer_text, add_special_tokens=False)["input_ids"]
        room = self.max_length - len(prompt_ids)
        if room <= 0:
            raise ConfigError(
                f"training.max_length {self.max_length} leaves no room for the answer: the prompt "
                f"with its image takes {len(prompt_ids)} tokens"
            )
        if len(answer_ids) > room:
            answer_ids = answer_ids[:room]
            self.truncated += 1
        return {
            "input_ids": prompt_ids + answer_ids,
            "token_type_ids": (token_types + [0] * len(answer_ids)) if token_types else None,
            "labels": [IGNORE_INDEX] * len(prompt_ids) + list(answer_ids),
            "pixel_values": prompt["pixel_values"],
        }

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        import torch

        encoded = [self.encode(load_image(row["image"]), row["report"]) for row in rows]
        width = max(len(e["input_ids"]) for e in encoded)
        pad_id = self.processor.tokenizer.pad_token_id

        def padded(key: str, fill: int) -> torch.Tensor:
            return torch.tensor(
                [e[key] + [fill] * (width - len(e[key])) for e in encoded], dtype=torch.long
            )

        batch: dict[str, Any] = {
            "input_ids": padded("input_ids", pad_id),
            "labels": padded("labels", IGNORE_INDEX),
            "attention_mask": torch.tensor(
                [[1] * len(e["input_ids"]) + [0] * (width - len(e["input_ids"])) for e in encoded],
                dtype=torch.long,
            ),
        }
        if all(e["token_type_ids"] is not None for e in encoded):
            batch["token_type_ids"] = padded("token_type_ids", 0)
        pixels = torch.cat([e["pixel_values"] for e in encoded])
        batch["pixel_values"] = pixels.to(self.pixel_dtype) if self.pixel_dtype else pixels
        return batch
