"""The job service as a real server: uvicorn on a free loopback port, driven over HTTP."""

from __future__ import annotations

import json
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import pytest

from explainmyxray.cli.app import main as cli

from ..conftest import SHARED_DATA
from .server import LIGHT, REPORT, Server, submit, wait_job

TOKEN = "test-token-7f3a"
WINDOW_MS = 800
CXR = SHARED_DATA / "cxr"
NIH = CXR / "nih_00000001_000.png"
NIH_NORMAL = CXR / "nih_00027426_000.png"
JPEG = CXR / "rgb_16747_3_1.jpg"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    if not CXR.is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (see shared/data/README.md)")
    root = tmp_path_factory.mktemp("serve")
    instance = Server(
        LIGHT,
        root / "data",
        "--batch-window-ms",
        str(WINDOW_MS),
        "--max-files",
        "3",
        "--max-upload-mb",
        "1",
        "--max-active-jobs",
        "3",
        "--callback-host",
        "127.0.0.1",
        "--job-option",
        "generate:supplied-report.source_label",
        token=TOKEN,
    ).start()
    yield instance
    assert instance.stop() in (0, -signal.SIGTERM), instance.output()


@pytest.fixture
def client(server):
    with server.client() as c:
        yield c


def test_a_job_runs_to_the_end_and_its_case_folder_is_a_cli_case_folder(server, client, tmp_path):
    answer = submit(client, [NIH, JPEG])
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    assert answer.headers["location"] == f"/v1/jobs/{accepted['id']}" == accepted["location"]
    assert accepted["state"] == "queued" and accepted["replayed"] is False

    job = wait_job(client, accepted["id"])
    assert job["state"] == "finished" and job["counts"] == {"finished": 2}
    assert [c["index"] for c in job["cases"]] == [0, 1]
    assert [c["media"] for c in job["cases"]] == ["png", "jpeg"]
    for case in job["cases"]:
        report = client.get(case["report"])
        assert report.status_code == 200
        document = report.json()
        present = {f["label"] for f in document["report"]["findings"] if f["status"] == "present"}
        assert {"cardiomegaly", "pleural effusion"} <= present
        assert [p["stage"] for p in document["provenance"]] == ["preprocess", "generate", "verify"]
        assert document["source"] == f"sha256:{case['sha256']}"  # as `run` names it
        assert NIH.name not in json.dumps(document) and JPEG.name not in json.dumps(document)
        overlay = client.get(case["overlay"])
        assert overlay.status_code == 200 and overlay.content.startswith(b"\x89PNG")

    # the same image through `explainmyxray run` writes the same files with the same report
    out = tmp_path / "cli"
    assert cli(["run", str(LIGHT), str(NIH), "--report", REPORT, "--out", str(out)]) == 0
    (cli_case,) = (out / "cases").iterdir()
    job_case = server.data / "jobs" / job["id"] / "cases" / job["cases"][0]["case"]
    assert sorted(p.name for p in job_case.iterdir()) == sorted(p.name for p in cli_case.iterdir())
    ours = json.loads((job_case / "report.json").read_text())
    theirs = json.loads((cli_case / "report.json").read_text())
    for document in (ours, theirs):
        del document["id"], document["source"]
        for record in document["provenance"]:
            record.pop("seconds")
    assert ours == theirs
    viewer = client.get(job["viewer"])
    assert viewer.status_code == 200 and job["cases"][0]["case"] in viewer.text


def test_without_the_token_every_api_call_is_401(server):
    with server.client(token=None) as anonymous, server.client(token="wrong") as wrong:
        for c in (anonymous, wrong):
            answer = submit(c, [NIH])
            assert answer.status_code == 401
            assert "bearer token" in answer.json()["detail"]
            assert answer.headers["www-authenticate"] == "Bearer"
            assert c.get("/v1/jobs").status_code == 401
            assert c.get("/metrics").status_code == 401
        assert anonymous.get("/healthz").json() == {"status": "ok"}


def test_too_many_files_or_bytes_is_413_and_content_not_name_decides_415(client, tmp_path):
    answer = submit(client, [NIH, NIH, NIH, NIH])
    assert answer.status_code == 413
    assert answer.json()["detail"] == "4 files in one job; this service accepts at most 3 per job"

    big = tmp_path / "big.png"
    big.write_bytes(NIH.read_bytes() * 7)  # 1.2 MiB
    answer = submit(client, [big])
    assert answer.status_code == 413
    assert "larger than this service accepts (1 MiB per job)" in answer.json()["detail"]

    fake = tmp_path / "scan.png"
    fake.write_text("FINDINGS: not an image at all")
    answer = submit(client, [NIH, fake])
    assert answer.status_code == 415
    detail = answer.json()["detail"]
    assert detail.startswith("file 2 (scan.png) is not an accepted image")
    assert "DICOM" in detail and "not the file name" in detail

    renamed = tmp_path / "chest.txt"  # a real PNG under a misleading name is accepted
    renamed.write_bytes(NIH_NORMAL.read_bytes())
    answer = submit(client, [renamed])
    assert answer.status_code == 202
    wait_job(client, answer.json()["id"])


def test_the_same_idempotency_key_returns_the_same_job(client):
    first = submit(client, [NIH_NORMAL], key="order-1")
    again = submit(client, [NIH_NORMAL], key="order-1")
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"] and again.json()["replayed"] is True
    other = submit(client, [NIH], key="order-1")
    assert other.status_code == 409
    assert "different request" in other.json()["detail"]
    job = wait_job(client, first.json()["id"])
    assert job["total"] == 1 and job["state"] == "finished"
    assert first.json()["id"] in [j["id"] for j in client.get("/v1/jobs").json()]


def test_two_jobs_submitted_together_share_one_engine_batch(client):
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(lambda f: submit(client, [f]), [NIH, NIH_NORMAL]))
    assert [a.status_code for a in answers] == [202, 202]
    jobs = [wait_job(client, a.json()["id"]) for a in answers]
    batches = {case["batch"] for job in jobs for case in job["cases"]}
    assert len(batches) == 1 and None not in batches
    assert all(job["state"] == "finished" for job in jobs)
    metrics = client.get("/metrics").text
    assert 'explainmyxray_batch_jobs_bucket{le="1.0"}' in metrics
    shared = [line for line in metrics.splitlines() if line.startswith("explainmyxray_batch_jobs")]
    one = next(float(x.split()[-1]) for x in shared if 'le="1.0"' in x)
    count = next(
        float(x.split()[-1]) for x in shared if x.startswith("explainmyxray_batch_jobs_count")
    )
    assert count > one  # at least one batch held cases of two jobs


def test_a_job_may_set_the_allowed_options_and_runs_in_batches_of_its_variant(client):
    options = json.dumps({"generate:supplied-report": {"source_label": "radiologist"}})
    with ThreadPoolExecutor(2) as pool:
        plain, custom = pool.map(lambda kw: submit(client, [NIH], **kw), [{}, {"options": options}])
    assert plain.status_code == custom.status_code == 202, custom.text
    jobs = [wait_job(client, a.json()["id"]) for a in (plain, custom)]
    sources = [client.get(j["cases"][0]["report"]).json()["report"]["source"] for j in jobs]
    assert sources == ["supplied", "radiologist"]
    assert jobs[0]["cases"][0]["batch"] != jobs[1]["cases"][0]["batch"]

    for bad, message in (
        (
            '{"verify:labeler": {"strict": true}}',
            "option verify:labeler.strict may not be set by a job "
            "(allowed: generate:supplied-report.source_label)",
        ),
        ('{"generate:supplied-report": {"source_label": 5}}', "source_label: Input should be"),
        ("{not json", "options are not valid JSON"),
    ):
        answer = submit(client, [NIH], options=bad)
        assert answer.status_code == 422, bad
        assert message in answer.json()["detail"]


def test_cancel_drops_queued_cases_and_keeps_them_dropped(server, client):
    answer = submit(client, [NIH, NIH_NORMAL, JPEG])
    job_id = answer.json()["id"]
    cancelled = client.delete(f"/v1/jobs/{job_id}")  # within the batching window
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    assert {c["state"] for c in cancelled.json()["cases"]} == {"cancelled"}
    follow = submit(client, [NIH])  # the worker moves on to the next job
    wait_job(client, follow.json()["id"])
    job = client.get(f"/v1/jobs/{job_id}").json()
    assert job["state"] == "cancelled" and job["counts"] == {"cancelled": 3}
    assert not (server.data / "jobs" / job_id / "cases").exists()
    again = client.delete(f"/v1/jobs/{job_id}")
    assert again.status_code == 409 and "already ended (cancelled)" in again.json()["detail"]
    assert client.delete("/v1/jobs/no-such-job").status_code == 404
    case = job["cases"][0]["case"]
    assert client.get(f"/v1/jobs/{job_id}/cases/{case}/report.json").status_code == 409


def test_a_client_with_too_many_active_jobs_gets_429(client):
    answers = [submit(client, [NIH_NORMAL]) for _ in range(4)]
    assert [a.status_code for a in answers] == [202, 202, 202, 429]
    assert "already has 3 queued or running jobs" in answers[3].json()["detail"]
    assert int(answers[3].headers["retry-after"]) >= 1
    for a in answers[:3]:
        wait_job(client, a.json()["id"])


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_the_callback_is_called_when_the_job_ends_and_only_allowed_hosts_are(client):
    receiver = HTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{receiver.server_port}/done"
        refused = submit(client, [NIH], callback_url="http://example.org/done")
        assert refused.status_code == 422
        assert "'example.org' is not allowed (allowed: 127.0.0.1)" in refused.json()["detail"]
        job_id = submit(client, [NIH], callback_url=url).json()["id"]
        wait_job(client, job_id)
        for _ in range(100):
            job = client.get(f"/v1/jobs/{job_id}").json()
            if job["callback_state"] == "delivered":
                break
            threading.Event().wait(0.05)
        assert job["callback_state"] == "delivered"
        (payload,) = [p for p in _Receiver.received if p["id"] == job_id]
        assert payload["state"] == "finished" and payload["cases"][0]["state"] == "finished"
    finally:
        receiver.shutdown()


def test_no_patient_identifier_reaches_a_report_the_job_or_the_log(server, client, tmp_path):
    import numpy as np
    from PIL import Image

    from ..imaging.conftest import write_dicom

    pixels = np.asarray(Image.open(NIH).convert("L"))
    dicom = write_dicom(
        tmp_path / "Doe_Jane_MRN-4711.dcm", pixels, PatientName="Doe^Jane", PatientID="MRN-4711"
    )
    job_id = submit(client, [dicom]).json()["id"]
    job = wait_job(client, job_id)
    assert job["state"] == "finished" and job["cases"][0]["media"] == "dicom"
    report = client.get(job["cases"][0]["report"]).text
    for text in (report, json.dumps(job), client.get(job["viewer"]).text, server.output()):
        # (spellings with characters base64 never has: the viewer embeds images as data: URIs)
        for identifier in ("Doe^Jane", "Doe Jane", "Jane Doe", "Doe_Jane", "MRN-4711"):
            assert identifier not in text


def test_operations_endpoints(client):
    ready = client.get("/readyz").json()
    assert ready["ready"] is True and ready["pipeline"] == "light" and ready["batch_size"] == 4
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    for line in (
        'explainmyxray_jobs{state="cancelled"} 1.0',
        "explainmyxray_queue_depth ",
        'explainmyxray_stage_seconds_total{step="verify:labeler"}',
        'explainmyxray_requests_rejected_total{status="413"} 2.0',
        'explainmyxray_requests_rejected_total{status="415"} 1.0',
    ):
        assert line in text, line
    assert 'explainmyxray_jobs{state="finished"} 0.0' not in text
    spec = client.get("/openapi.json").json()
    assert {"post", "get"} <= set(spec["paths"]["/v1/jobs"])
    assert "delete" in spec["paths"]["/v1/jobs/{job_id}"]
    assert "swagger-ui" in client.get("/docs").text
    page = client.get("/")
    assert page.status_code == 200 and 'id="upload-form"' in page.text
    # CORS is off unless --cors-origin is given: no browser on another origin may read answers
    other = client.get("/v1/jobs", headers={"Origin": "https://elsewhere.example"})
    assert other.status_code == 200 and "access-control-allow-origin" not in other.headers
