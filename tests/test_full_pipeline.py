"""configs/pipelines/full.yaml end to end on the CPU: every model plugin, tiny random models
built in the real layouts, loaded by the real loaders, through the real orchestrator."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from explainmyxray.cli.app import main as cli
from explainmyxray.pipelines.engine import Engine
from explainmyxray.pipelines.shipped import resolve_pipeline
from explainmyxray.registry.plugins import PluginHost

REPORT = "FINDINGS: Cardiomegaly. Small left pleural effusion.\nIMPRESSION: Cardiomegaly."


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    import torch
    from transformers import BertConfig

    from explainmyxray.models.biomedclip.tiny import build_tiny_biomedclip
    from explainmyxray.models.chexbert.network import CheXbertNetwork
    from explainmyxray.models.vision_language.medgemma.tiny import build_tiny_medgemma

    root = tmp_path_factory.mktemp("full-models")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "no", *REPORT.lower().split()]
    tokenizer = root / "bert"
    tokenizer.mkdir()
    (tokenizer / "vocab.txt").write_text("\n".join(vocab) + "\n")
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
    )
    (tokenizer / "config.json").write_text(config.to_json_string())
    torch.manual_seed(0)
    state = {f"module.{k}": v for k, v in CheXbertNetwork(config).state_dict().items()}
    torch.save({"model_state_dict": state}, root / "chexbert.pth")
    return {
        "medgemma": build_tiny_medgemma(root / "medgemma"),
        "biomedclip": build_tiny_biomedclip(root / "biomedclip"),
        "chexbert": root / "chexbert.pth",
        "tokenizer": tokenizer,
    }


def test_the_full_pipeline_runs_every_stage(models, shared_data, tmp_path):
    refs = tmp_path / "references"
    refs.mkdir()
    for name in ("nih_00000001_000.png", "tbx11k_health_h0001.png"):
        shutil.copyfile(shared_data / "cxr" / name, refs / name)
        (refs / name).with_suffix(".txt").write_text(REPORT)
    assert (
        cli(
            [
                "index",
                "build",
                str(refs),
                "--out",
                str(tmp_path / "indexes" / "reference"),
                "--backend",
                "biomedclip",
                "--weights",
                str(models["biomedclip"]),
                "--device",
                "cpu",
            ]
        )
        == 0
    )

    config = yaml.safe_load(resolve_pipeline("full").read_text())
    config["device"] = "cpu"
    options = {s["plugin"]: s.setdefault("options", {}) for s in config["stages"]}
    options["biomedclip"]["weights"] = str(models["biomedclip"])
    options["medgemma"].update(weights=str(models["medgemma"]), max_new_tokens=8, batch_size=2)
    options["chexbert"].update(weights=str(models["chexbert"]), tokenizer=str(models["tokenizer"]))
    pipeline_file = tmp_path / "full.yaml"  # the index path stays relative to this file
    pipeline_file.write_text(yaml.safe_dump(config))

    host = PluginHost(discover=False)
    sources = [
        shared_data / "cxr" / "nih_00003440_000.png",
        shared_data / "dicom" / "siim_chest_cr_jpeg.dcm",
    ]
    with Engine(host) as engine:
        summary = engine.run(pipeline_file, sources, tmp_path / "run", report_text=REPORT)

    assert summary.ok, summary.failures
    assert summary.model_loads == {
        "biomedclip": 1,
        "medgemma-4b-it": 1,
        "litemedsam": 1,
        "chexbert": 1,
    }
    for path in (tmp_path / "run" / "cases").glob("*/report.json"):
        case = json.loads(path.read_text())
        assert [s["stage"] for s in case["provenance"]] == [
            "preprocess",
            "retrieve",
            "generate",
            "localize",
            "verify",
            "verify",
            "score",
        ]
        assert len(case["retrieved"]) == 2 and case["retrieved"][0]["report"] == REPORT
        assert case["report"]["source"] == "medgemma" and case["report"]["text"] is not None
        assert len(case["anatomy"]) == 26
        assert len(case["groundings"]) == len(case["report"]["findings"])
        assert [v["verifier"] for v in case["verification"]] == ["chexbert", "labeler"]
        assert case["scores"], "the metrics step scored nothing"
