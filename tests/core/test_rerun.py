"""Reruns into an output folder: foreign results set aside, two runs share the work."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from explainmyxray.core.errors import UsageError
from explainmyxray.core.inputs import case_id
from explainmyxray.core.results import prepare_out_dir

from .test_orchestrator import inputs, make

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "foreign",
    [b"{}", b'{"schema_version": "0.9", "id": "x"}', b"[1, 2]", b"\xff\xfe not json"],
)
def test_a_foreign_report_is_moved_aside_and_its_case_redone(tmp_path, foreign):
    sources = inputs(tmp_path, ["a.png", "b.png"])
    out = tmp_path / "out"
    _host, orch = make()
    orch.run(sources, out)
    folder = out / "cases" / case_id(sources[0])
    (folder / "report.json").write_bytes(foreign)

    _host, orch = make()
    summary = orch.run(sources, out)
    assert summary.ok and summary.finished == 1 and summary.skipped == 1
    kept = list(folder.glob("report.set-aside-*.json"))
    assert [p.read_bytes() for p in kept] == [foreign]
    assert json.loads((folder / "report.json").read_text())["schema_version"] == "1.0"


def _start(out: Path, log: Path, sources: list[Path]) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "tests.core.slow_run", str(out), str(log), *map(str, sources)]
    return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)


def test_two_runs_into_one_folder_read_each_case_once(tmp_path):
    sources = inputs(tmp_path, [f"{i}.png" for i in range(8)])
    out, log = tmp_path / "out", tmp_path / "reads.log"
    runs = [_start(out, log, sources), _start(out, log, sources)]
    results = [json.loads(run.communicate(timeout=120)[0]) for run in runs]
    assert all(run.returncode == 0 for run in runs)
    lines = [line.split() for line in log.read_text().splitlines()]
    reads = Counter(cid for _, cid in lines)
    assert sorted(reads) == sorted(case_id(p) for p in sources)
    assert set(reads.values()) == {1}, reads
    assert len({pid for pid, _ in lines}) == 2  # both runs worked, on different cases
    assert sum(r["finished"] for r in results) == 8
    assert all(r["finished"] + r["skipped"] == 8 for r in results)


def test_out_must_be_a_writable_folder(tmp_path):
    existing = tmp_path / "file"
    existing.write_text("x")
    with pytest.raises(UsageError, match="exists and is not a folder"):
        prepare_out_dir(existing)
    with pytest.raises(UsageError, match="not writable"):
        prepare_out_dir(existing / "below")
    assert prepare_out_dir(tmp_path / "new" / "out").is_dir()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_out_is_refused(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(UsageError, match="not writable"):
            prepare_out_dir(folder)
    finally:
        folder.chmod(0o700)
