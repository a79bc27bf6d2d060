"""Accepted jobs survive the server: ``kill -9`` mid-job, then a restart on the same data folder
finishes the job with no case lost or run twice; SIGTERM finishes (or re-queues) the running
batch before the process exits."""

from __future__ import annotations

import json
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from .server import LIGHT, Server, submit, wait_job


@pytest.fixture
def one_per_batch(tmp_path):
    pipeline = tmp_path / "light1.yaml"
    pipeline.write_text(LIGHT.read_text().replace("batch_size: 4", "batch_size: 1"))
    return pipeline


def _rows(data, job_id):
    with sqlite3.connect(data / "queue.sqlite3") as db:
        db.row_factory = sqlite3.Row
        return [
            dict(r)
            for r in db.execute("SELECT * FROM cases WHERE job_id = ? ORDER BY position", (job_id,))
        ]


def test_kill_9_mid_job_then_restart_finishes_every_case_exactly_once(
    one_per_batch, shared_data, tmp_path
):
    images = sorted((shared_data / "cxr").iterdir())
    assert len(images) == 8
    data = tmp_path / "data"
    first = Server(one_per_batch, data, "--batch-window-ms", "0", "--max-upload-mb", "16").start()
    try:
        with first.client() as client:
            job_id = submit(client, images).json()["id"]
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                counts = client.get(f"/v1/jobs/{job_id}").json()["counts"]
                if counts.get("finished", 0) >= 2:
                    break
                time.sleep(0.02)
            first.kill()  # SIGKILL: no shutdown code runs
    finally:
        first.kill()
    before = _rows(data, job_id)
    done_before = {r["case_id"] for r in before if r["state"] == "finished"}
    assert 2 <= len(done_before) < len(images), "the kill did not land mid-job"
    assert any(r["state"] in {"running", "queued"} for r in before)
    cases_dir = data / "jobs" / job_id / "cases"
    written = {c: (cases_dir / c / "report.json").stat().st_mtime_ns for c in done_before}

    job, log = _finish_after_restart(one_per_batch, data, job_id)
    assert job["state"] == "finished" and job["counts"] == {"finished": len(images)}
    assert [c["index"] for c in job["cases"]] == list(range(len(images)))
    assert sorted(p.name for p in cases_dir.iterdir()) == sorted(c["case"] for c in job["cases"])
    for case in job["cases"]:
        report = json.loads((cases_dir / case["case"] / "report.json").read_text())
        assert [p["stage"] for p in report["provenance"]] == ["preprocess", "generate", "verify"]
        assert report["errors"] == []
        if case["case"] in done_before:  # finished before the kill: not run again
            assert case["attempts"] == 1
            mtime = (cases_dir / case["case"] / "report.json").stat().st_mtime_ns
            assert mtime == written[case["case"]]
    interrupted = [r["case_id"] for r in before if r["state"] == "running"]
    attempts = {c["case"]: c["attempts"] for c in job["cases"]}
    assert all(attempts[c] == 2 for c in interrupted)
    assert "re-queued" in log


@pytest.mark.parametrize(
    ("timeout", "said"),
    [("60", "the running batch finished"), ("0", "the running batch was re-queued")],
)
def test_sigterm_finishes_or_requeues_the_running_batch_and_a_restart_runs_the_rest(
    one_per_batch, tmp_path, timeout, said
):
    from pydicom.data import get_testdata_file

    dicom = Path(get_testdata_file("RG1_UNCR.dcm"))  # 1955 x 1841: seconds per case
    images = []
    for i in range(3):
        images.append(tmp_path / f"{i}.dcm")
        images[-1].symlink_to(dicom)
    data = tmp_path / "data"
    server = Server(
        one_per_batch,
        data,
        "--batch-window-ms",
        "0",
        "--max-upload-mb",
        "64",
        "--shutdown-timeout",
        timeout,
    ).start()
    with server.client() as client:
        job_id = submit(client, images).json()["id"]
        deadline = time.monotonic() + 60
        while client.get(f"/v1/jobs/{job_id}").json()["state"] == "queued":
            assert time.monotonic() < deadline
            time.sleep(0.02)
    status = server.stop()
    assert status in (0, -signal.SIGTERM), server.output()
    assert said in server.output()
    assert not [r for r in _rows(data, job_id) if r["state"] == "running"]

    job, _ = _finish_after_restart(one_per_batch, data, job_id)
    assert job["counts"] == {"finished": len(images)}
    assert all(c["attempts"] == 1 for c in job["cases"])


def _finish_after_restart(pipeline, data, job_id):
    server = Server(pipeline, data, "--batch-window-ms", "0").start()
    try:
        with server.client() as client:
            job = wait_job(client, job_id)
    finally:
        server.stop()
    return job, server.output()
