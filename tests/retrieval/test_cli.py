"""``explainmyxray index build`` and ``index info`` (the command module, run as the app runs it)."""

from __future__ import annotations

import argparse
import json

import pytest

from explainmyxray.cli.commands import index as command
from explainmyxray.core.errors import UsageError
from explainmyxray.retrieval.index import ReferenceIndex

from .conftest import REPORTS


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="explainmyxray index")
    command.add_arguments(parser)
    return command.run(parser.parse_args(list(argv)))


def test_build_then_info(reference_folder, tiny_dir, tmp_path, capsys):
    out = tmp_path / "index"
    code = run(
        "build",
        str(reference_folder),
        "--out",
        str(out),
        "--weights",
        f"local-dir:{tiny_dir}",
        "--device",
        "cpu",
        "--batch-size",
        "4",
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert f"{len(REPORTS)} reference cases (images and reports)" in printed
    assert "left out 1" in printed and "opencxr_c0001_8bit.png" in printed
    index = ReferenceIndex.open(out)
    assert index.count == len(REPORTS) and index.metadata["backend"] == "biomedclip"

    assert run("info", str(out), "--json") == 0
    info = json.loads(capsys.readouterr().out)
    assert info["count"] == len(REPORTS) and info["model"]["name"] == "biomedclip"
    assert info["embeddings"]["image"] == "image_embeddings.npy"
    assert run("info", str(out)) == 0
    table = capsys.readouterr().out
    assert "biomedclip (32-d)" in table and "images and reports" in table


def test_minilm_backend_builds_a_text_index(reference_folder, minilm_runner, tmp_path, capsys):
    out = tmp_path / "text-index"
    assert (
        run(
            "build",
            str(reference_folder),
            "--out",
            str(out),
            "--backend",
            "minilm",
            "--device",
            "cpu",
        )
        == 0
    )
    assert "(reports only), 384-d minilm-l6" in capsys.readouterr().out
    assert not ReferenceIndex.open(out).has_images


def test_bad_batch_size_and_missing_source_are_usage_errors(tmp_path):
    with pytest.raises(UsageError, match="--batch-size"):
        run("build", str(tmp_path), "--out", str(tmp_path / "i"), "--batch-size", "0")
    with pytest.raises(UsageError, match="no such folder"):
        run("build", str(tmp_path / "nope"), "--out", str(tmp_path / "i"))
