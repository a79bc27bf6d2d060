"""The training config: the shipped v2 recipe, validation, and announced fallbacks."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from explainmyxray.core.errors import ConfigError
from explainmyxray.training.config import TrainConfig, load_config

V2 = Path(__file__).resolve().parents[2] / "configs" / "training" / "medgemma-qlora-v2.yaml"


def test_shipped_v2_recipe_is_the_default_config():
    config = load_config(V2)
    assert config == TrainConfig()
    assert (config.quantization, config.precision, config.train_vision) == ("nf4", "bf16", False)
    assert (config.lora.r, config.lora.alpha, config.lora.dropout) == (32, 64, 0.05)
    assert config.lora.target_modules == "all-linear"
    t = config.training
    assert (t.optim, t.learning_rate, t.lr_scheduler) == ("paged_adamw_8bit", 2e-4, "cosine")
    assert t.gradient_checkpointing and t.warmup > 0


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("lora:\n  rank: 8\n", "lora.rank"),
        ("quantization: int8\n", "quantization"),
        ("training:\n  optim: sgd\n", "training.optim"),
        ("data:\n  validation_fraction: 0.6\n  test_fraction: 0.5\n", "data"),
        ("learning_rate: 1e-4\n", "learning_rate"),
    ],
)
def test_bad_config_names_file_and_field(tmp_path, text, field):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(path) in str(caught.value) and field in str(caught.value)


def test_yaml_is_loaded_safely(tmp_path):
    path = tmp_path / "evil.yaml"
    path.write_text("base_model: !!python/object/apply:os.getcwd []\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


def test_relative_base_model_is_taken_from_the_config_folder(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("base_model: weights/medgemma\n")
    assert load_config(path).base_model == tmp_path / "weights" / "medgemma"


def test_cpu_fallbacks_are_announced_and_recorded(caplog):
    pytest.importorskip("torch")
    from explainmyxray.training.train import plan_runtime

    with caplog.at_level(logging.WARNING):
        runtime = plan_runtime(TrainConfig(), cuda=False, bitsandbytes=True)
    assert runtime.device == "cpu"
    assert runtime.config.training.optim == "adamw_torch"
    assert runtime.config.quantization == "nf4"  # bitsandbytes quantizes on CPU too
    assert len(runtime.fallbacks) == 1 and "paged_adamw_8bit -> adamw_torch" in runtime.fallbacks[0]
    assert "paged_adamw_8bit -> adamw_torch" in caplog.text

    without = plan_runtime(TrainConfig(), cuda=True, bf16_ok=False, bitsandbytes=False)
    assert without.config.quantization == "none" and without.config.precision == "fp32"
    assert without.config.training.optim == "adamw_torch"
    assert len(without.fallbacks) == 3


def test_fallback_error_refuses_instead(caplog):
    pytest.importorskip("torch")
    from explainmyxray.training.train import plan_runtime

    strict = TrainConfig(fallback="error")
    with pytest.raises(ConfigError, match="paged_adamw_8bit"):
        plan_runtime(strict, cuda=False, bitsandbytes=True)
    ready = plan_runtime(strict, cuda=True, bf16_ok=True, bitsandbytes=True)
    assert ready.fallbacks == () and ready.config == strict and ready.device == "cuda"
    cpu = TrainConfig.model_validate(
        {"quantization": "none", "precision": "fp32", "training": {"optim": "adamw_torch"}}
    )
    assert plan_runtime(cpu, cuda=False).fallbacks == ()
