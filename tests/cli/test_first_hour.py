"""What a new user meets in the first hour: readiness, honest summaries, exit codes, Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explainmyxray.core.results import atomic_write_bytes
from explainmyxray.pipelines.loader import load_pipeline
from explainmyxray.pipelines.shipped import SHIPPED_DIR, resolve_pipeline
from explainmyxray.registry.plugins import PluginHost
from explainmyxray.registry.weights import locate_weights

REPO = Path(__file__).resolve().parents[2]
GENERATE_ONLY = """
name: generate-only
batch_size: 1
stages:
  - stage: preprocess
    plugin: image
  - stage: generate
    plugin: medgemma
    options:
      without_weights: supplied-report
"""


def cli(*args: str, env: dict[str, str] | None = None, **kw) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "explainmyxray", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env=full_env,
        **kw,
    )


@pytest.fixture
def home(tmp_path: Path, monkeypatch) -> Path:
    folder = tmp_path / "home"
    monkeypatch.setenv("EXPLAINMYXRAY_HOME", str(folder))
    return folder


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return PluginHost(discover=False)


def _absent(host: PluginHost, *names: str) -> None:
    present = [n for n in names if locate_weights(host.models.get(n)) is not None]
    if present:
        pytest.skip(f"weights of {', '.join(present)} are on this machine")


def test_run_whose_report_step_produced_nothing_says_why_and_exits_4(tmp_path, host, shared_data):
    _absent(host, "medgemma-4b-it")
    pipeline = tmp_path / "generate-only.yaml"
    pipeline.write_text(GENERATE_ONLY)
    image = shared_data / "cxr" / "nih_00000001_000.png"

    result = cli("run", str(pipeline), str(image), "--out", str(tmp_path / "run"))
    assert result.returncode == 4, result.stdout + result.stderr
    text = " ".join(result.stdout.split())
    assert "preprocess:image: image for 1 case" in text
    assert (
        "no report for any of 1 case: no generator weights (explainmyxray models pull "
        "medgemma-4b-it) and no supplied report" in text
    )
    manifest = json.loads((tmp_path / "run" / "run.json").read_text())
    assert manifest["summary"]["nothing_produced"].startswith("no report for any of 1 case")
    assert manifest["provenance"]["versions"]["explainmyxray"]

    supplied = cli(
        "run",
        str(pipeline),
        str(image),
        "--out",
        str(tmp_path / "run2"),
        "--report",
        "FINDINGS: Cardiomegaly.",
    )
    assert supplied.returncode == 0, supplied.stdout + supplied.stderr
    assert "report for 1 case (1 from supplied)" in " ".join(supplied.stdout.split())
    (case,) = (tmp_path / "run2" / "cases").glob("*/report.json")
    document = json.loads(case.read_text())
    assert len(document["metadata"]["input_sha256"]) == 64


def test_validate_lists_every_gap_with_the_command_that_fixes_it(home, host):
    missing = ["medgemma-4b-it", "paligemma2-3b-pt-896", "biomedclip", "medsam", "chexbert"]
    _absent(host, *missing)
    result = cli("validate", "ensemble", env={"COLUMNS": "200"})
    assert result.returncode == 3, result.stdout + result.stderr
    assert "not ready to run" in result.stdout
    for name in missing:
        assert f"fix: explainmyxray models pull {name}" in result.stdout
    assert f"no reference index at {home / 'indexes' / 'reference'}" in result.stdout
    assert "fix: explainmyxray index build REFERENCE_FOLDER" in result.stdout

    as_json = json.loads(cli("validate", "ensemble", "--json").stdout)
    assert as_json["ready"] is False and len(as_json["missing"]) == len(missing) + 1
    assert cli("validate", "ensemble", "--syntax-only").returncode == 0


def test_run_of_a_pipeline_that_is_not_ready_stops_before_any_work(
    home, host, tmp_path, shared_data
):
    _absent(host, "medgemma-4b-it", "chexbert", "biomedclip")
    out = tmp_path / "out"
    result = cli("run", "full", str(shared_data / "cxr"), "--out", str(out))
    assert result.returncode == 3, result.stderr
    assert "pipeline full is not ready to run: 4 thing(s) missing" in result.stderr
    assert "explainmyxray models pull medgemma-4b-it" in result.stderr
    assert "explainmyxray models pull chexbert" in result.stderr
    assert "explainmyxray index build REFERENCE_FOLDER" in result.stderr
    assert not out.exists()


def test_shipped_pipelines_resolve_relative_paths_in_the_user_data_folder(home, host):
    pipeline = load_pipeline(resolve_pipeline("ensemble"), host)
    assert pipeline.base_dir == home
    retrieve = next(s for s in pipeline.steps if s.stage == "retrieve")
    assert retrieve.options.index == Path("indexes/reference")
    package = Path(__import__("explainmyxray").__file__).resolve().parent
    assert package not in pipeline.base_dir.resolve().parents


def test_every_model_a_shipped_pipeline_comment_tells_to_pull_is_registered(host):
    for path in SHIPPED_DIR.glob("*.yaml"):
        comments = " ".join(
            line.lstrip("# ") for line in path.read_text().splitlines() if line.startswith("#")
        )
        for name in re.findall(r"pull ([a-z0-9][\w.-]*)", comments):
            assert host.models.get(name).name, f"{path.name}: `pull {name}`"
    assert host.models.get("paligemma").name == "paligemma2-3b-pt-896"


@pytest.mark.parametrize("command", [("models", "list"), ("plugins",)])
def test_tables_keep_every_name_whole_at_80_columns(command, host):
    result = cli(*command, env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    cells = {cell.strip() for line in result.stdout.splitlines() for cell in line.split("│")}
    names = (
        [n for spec in host.models for n in (spec.name, *spec.aliases)]
        if command[0] == "models"
        else list(host.infos)
    )
    for name in names:
        assert name in cells, f"{name!r} is cut in:\n{result.stdout}"
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


def test_models_list_says_unpinned_where_no_revision_is_pinned(host):
    rows = {row["name"]: row for row in json.loads(cli("models", "list", "--json").stdout)}
    assert rows["paligemma2-3b-pt-896"]["aliases"] == ["paligemma", "paligemma2"]
    unpinned = [n for n, row in rows.items() if row["hub_id"] and not row["revision"]]
    assert unpinned
    table = cli("models", "list", env={"COLUMNS": "200"}).stdout
    assert table.count("unpinned") == len(unpinned)


def test_offline_pull_says_how_to_bring_the_weights_in(tmp_path):
    result = cli("models", "pull", "paligemma", env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode == 1
    assert "HF_HUB_OFFLINE is set" in result.stderr
    assert "models--google--paligemma2-3b-pt-896" in result.stderr
    assert "HF_HOME" in result.stderr and "weights:" in result.stderr
    assert "explainmyxray models verify paligemma2-3b-pt-896" in result.stderr


def test_a_mistyped_pipeline_name_gets_a_suggestion():
    result = cli("validate", "defualt")
    assert result.returncode == 2
    assert "did you mean 'default'?" in result.stderr


def _distinct_images(folder: Path, source: Path, count: int) -> list[Path]:
    folder.mkdir()
    with Image.open(source) as image:
        pixels = np.asarray(image.convert("L")).copy()
    paths = []
    for i in range(count):
        pixels[0, 0] = i  # a different file each time: content-addressed ids stay distinct
        path = folder / f"cxr_{i:03d}.png"
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def test_ctrl_c_keeps_finished_cases_and_writes_run_json_and_index(tmp_path, shared_data):
    inputs = _distinct_images(tmp_path / "in", shared_data / "cxr" / "nih_00003440_000.png", 60)
    pipeline = tmp_path / "slow.yaml"
    pipeline.write_text(GENERATE_ONLY)
    out = tmp_path / "run"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "explainmyxray",
            "run",
            str(pipeline),
            str(inputs[0].parent),
            "--out",
            str(out),
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "120"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not list(out.glob("cases/*/report.json")):
        if process.poll() is not None:
            break
        time.sleep(0.1)
    assert process.poll() is None, "the run ended before it could be interrupted"
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)

    assert process.returncode == 130, stdout + stderr
    manifest = json.loads((out / "run.json").read_text())
    summary = manifest["summary"]
    assert summary["interrupted"] is True
    finished = sorted(p.parent.name for p in out.glob("cases/*/report.json"))
    assert 1 <= summary["finished"] == len(finished) < len(inputs)
    page = (out / "index.html").read_text()
    assert all(case_id in page for case_id in finished)
    assert "interrupted" in stdout
    assert f"{len(inputs)}/{len(inputs)}" not in stdout  # bars stay where the run stopped


def test_train_data_only_with_no_examples_exits_2(tmp_path):
    data = tmp_path / "data.jsonl"
    data.write_text('{"image": "missing.png", "report": "FINDINGS: Cardiomegaly."}\n')
    result = cli("train", "--jsonl", str(data), "--out", str(tmp_path / "t"), "--data-only")
    assert result.returncode == 2
    assert "no training examples: all 1 rows were left out (missing_images 1)" in result.stderr


def test_index_build_shows_no_third_party_progress_bars(tmp_path):
    references = tmp_path / "refs.jsonl"
    references.write_text(
        '{"id": "a", "report": "No acute disease."}\n{"id": "b", "report": "Cardiomegaly."}\n'
    )
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_DISABLE_PROGRESS_BARS"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "explainmyxray",
            "index",
            "build",
            str(references),
            "--backend",
            "minilm",
            "--out",
            str(tmp_path / "index"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
        env={**env, "PYTHONPATH": str(REPO)},
    )
    assert result.returncode == 0, result.stderr
    assert "2 reference cases" in result.stdout
    assert "it/s]" not in result.stderr and "Loading weights" not in result.stderr


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_output_files_follow_the_umask(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        atomic_write_bytes(tmp_path / "x.json", b"{}")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "x.json").stat().st_mode) == mode
