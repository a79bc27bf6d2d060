"""Acceptance: ``train --track`` logs through transformers' own MLflow integration into a real
MLflow store (SQLite in a temporary folder): arguments, per-step losses, evaluation losses, the
generation evaluations, the training card and the adapter, read back through MLflow's client."""

from __future__ import annotations

import argparse
import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")
pytest.importorskip("trl")
pytest.importorskip("mlflow")

from tests.tracking.mlflow_readback import metric_history, read_run

STEPS = 2
CONFIG = """
base_model: {base}
quantization: none
precision: fp32
lora: {{r: 4, alpha: 8, dropout: 0.0}}
training:
  optim: adamw_torch
  learning_rate: 1.0e-2
  warmup: 0
  max_steps: {steps}
  per_device_batch_size: 2
  gradient_accumulation_steps: 1
  gradient_checkpointing: false
  max_length: 1024
  seed: 7
  logging_steps: 1
  save_steps: {steps}
  dataloader_workers: 0
evaluation: {{eval_steps: {steps}, loss_examples: 2, generate_examples: 1, batch_size: 1,
             max_new_tokens: 4}}
data: {{validation_fraction: 0.2, test_fraction: 0.0, seed: 0}}
"""


@pytest.fixture(scope="module")
def tracked_training(padchest, tiny_medgemma, tmp_path_factory):
    import torch

    from explainmyxray.cli.commands import train as command

    root = tmp_path_factory.mktemp("train-tracked")
    config = root / "cpu.yaml"
    config.write_text(CONFIG.format(base=tiny_medgemma, steps=STEPS))
    store = f"sqlite:///{root / 'mlflow.db'}"
    out = root / "out"
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    argv = ["--config", str(config), "--data", str(padchest.table), "--images"]
    argv += [str(padchest.images), "--out", str(out), "--track", store]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert command.run(parser.parse_args(argv)) == 0
    finally:
        torch.set_num_threads(threads)
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=store)
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    card = json.loads((out / "adapter" / "training_card.json").read_text())
    return {"store": store, "run_id": run.info.run_id, "card": card, "out": out}


def test_transformers_logs_arguments_and_losses_into_the_run(tracked_training):
    logged = read_run(tracked_training["store"], tracked_training["run_id"])
    assert logged.status == "FINISHED"
    assert logged.tags["explainmyxray.command"] == "train"
    assert float(logged.params["learning_rate"]) == pytest.approx(1e-2)
    assert logged.params["max_steps"] == str(STEPS)
    losses = metric_history(tracked_training["store"], tracked_training["run_id"], "loss")
    card_losses = [(r["step"], r["loss"]) for r in tracked_training["card"]["history"]["train"]]
    assert [s for s, _ in losses] == [s for s, _ in card_losses] == list(range(1, STEPS + 1))
    assert [v for _, v in losses] == pytest.approx([v for _, v in card_losses], rel=1e-5)
    assert "eval_loss" in logged.metrics


def test_generation_evaluations_card_and_adapter_are_logged(tracked_training):
    logged = read_run(tracked_training["store"], tracked_training["run_id"])
    final = tracked_training["card"]["final_eval"]
    assert logged.metrics["generation.soft_match_accuracy"] == pytest.approx(
        final["soft_match_accuracy"]
    )
    assert logged.metrics["generation.n_examples"] == 1
    assert {"training_card/training_card.json", "training_card/TRAINING_CARD.md"} <= set(
        logged.artifacts
    )
    assert "adapter/adapter_config.json" in logged.artifacts
    assert "adapter/adapter_model.safetensors" in logged.artifacts
    assert "recipe.json" in logged.artifacts
