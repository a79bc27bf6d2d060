"""The SQLite job queue: fair batches, cancellation, idempotency, crash recovery."""

from __future__ import annotations

import io

import pytest

from explainmyxray.service.callbacks import CallbackRejected, check_callback
from explainmyxray.service.limits import TokenBucket, is_loopback
from explainmyxray.service.store import (
    MAX_ATTEMPTS,
    CaseOutcome,
    IdempotencyConflict,
    JobStore,
    NewCase,
)
from explainmyxray.service.uploads import UnsupportedMedia, inspect, sniff


def _cases(n: int) -> list[NewCase]:
    return [NewCase(f"{i:03d}-x", f"/in/{i:03d}.png", "png", f"h{i}", 10) for i in range(n)]


def _job(store: JobStore, job_id: str, n: int, **kw) -> str:
    return store.create_job(job_id, client="c", cases=_cases(n), request_hash=job_id, **kw)


def test_a_batch_takes_every_jobs_next_case_in_turn_so_a_large_job_does_not_starve_small_ones(
    tmp_path,
):
    store = JobStore(tmp_path)
    _job(store, "large", 10)
    _job(store, "small-1", 1)
    _job(store, "small-2", 2)
    first = store.claim_batch(4)
    assert [(c.job_id, c.position) for c in first.cases] == [
        ("large", 0),
        ("small-1", 0),
        ("small-2", 0),
        ("large", 1),
    ]
    second = store.claim_batch(4)
    assert [(c.job_id, c.position) for c in second.cases] == [
        ("large", 2),
        ("small-2", 1),
        ("large", 3),
        ("large", 4),
    ]
    assert store.job("large")["state"] == "running" and store.queued_cases() == 5
    dropped, ended = store.finish_batch(
        first, [CaseOutcome(c.job_id, c.position, ok=True, errors=[]) for c in first.cases]
    )
    assert dropped == [] and ended == ["small-1"]
    assert store.job("small-1")["state"] == "finished"
    assert {c["batch_id"] for c in store.job("small-2")["cases"]} == {first.id, second.id}


def test_a_cancelled_case_is_not_finished_by_the_batch_that_ran_it(tmp_path):
    store = JobStore(tmp_path)
    _job(store, "j", 2)
    batch = store.claim_batch(8)
    assert store.cancel("j") == ("cancelled", True)
    assert store.cancel("j") == ("cancelled", False)
    assert store.cancel("nope") is None
    outcomes = [CaseOutcome("j", c.position, ok=True, errors=[]) for c in batch.cases]
    dropped, ended = store.finish_batch(batch, outcomes)
    assert dropped == outcomes and ended == []
    assert [c["state"] for c in store.job("j")["cases"]] == ["cancelled", "cancelled"]


def test_a_failed_case_keeps_its_errors_and_a_job_of_only_failures_fails(tmp_path):
    store = JobStore(tmp_path)
    _job(store, "j", 1)
    batch = store.claim_batch(8)
    error = {"stage": "preprocess", "plugin": "image", "error_type": "InputError", "message": "x"}
    store.finish_batch(batch, [CaseOutcome("j", 0, ok=False, errors=[error])])
    job = store.job("j")
    assert job["state"] == "failed" and job["cases"][0]["errors"] == [error]


def test_idempotency_key_finds_the_same_request_and_refuses_a_different_one(tmp_path):
    store = JobStore(tmp_path)
    assert _job(store, "a", 1, idempotency_key="k") == "a"
    assert store.find_idempotent("c", "k", "a") == "a"
    with pytest.raises(IdempotencyConflict):
        store.find_idempotent("c", "k", "another request")
    assert store.find_idempotent("other client", "k", "a") is None
    # a second insert with the key (a race lost) answers with the first job
    raced = store.create_job(
        "b", client="c", cases=_cases(1), request_hash="a", idempotency_key="k"
    )
    assert raced == "a"
    assert store.known_job_ids() == {"a"}


def test_recovery_requeues_running_cases_and_fails_one_that_keeps_killing_the_server(tmp_path):
    store = JobStore(tmp_path)
    _job(store, "j", 2)
    assert store.journal_mode() == "wal"
    for _ in range(MAX_ATTEMPTS - 1):
        store.claim_batch(1)  # case 0 is claimed and the "server dies" each time
        assert store.recover() == (1, 0)
    store.claim_batch(1)
    store.close()
    reopened = JobStore(tmp_path)
    assert reopened.recover() == (0, 1)
    cases = reopened.job("j")["cases"]
    assert cases[0]["state"] == "failed" and "stopped 3 times" in cases[0]["errors"][0]["message"]
    assert cases[1]["state"] == "queued" and reopened.job("j")["state"] == "running"


def test_sniffing_reads_the_bytes_not_the_name():
    png = b"\x89PNG\r\n\x1a\n" + b"\0" * 200
    assert sniff(png) == "png"
    assert sniff(b"\xff\xd8\xff\xe0" + b"\0" * 200) == "jpeg"
    assert sniff(b"\0" * 128 + b"DICM" + b"\0" * 10) == "dicom"
    assert sniff(b"GIF89a" + b"\0" * 200) is None
    upload = inspect(0, io.BytesIO(png), "report.txt")
    assert upload.media == "png" and upload.size == len(png)
    with pytest.raises(UnsupportedMedia, match=r"file 3 \(x.dcm\) is not an accepted image: it is"):
        inspect(2, io.BytesIO(b""), "x.dcm")


def test_the_rate_limit_refills_over_time():
    now = [0.0]
    bucket = TokenBucket(rate=60, burst=2, clock=lambda: now[0])
    assert bucket.take("a") == 0 and bucket.take("a") == 0
    assert bucket.take("a") == pytest.approx(1.0)
    assert bucket.take("b") == 0  # per client
    now[0] = 1.0
    assert bucket.take("a") == 0


def test_callbacks_go_only_to_allowed_hosts_and_loopback_is_recognised():
    assert check_callback("https://ris.example/hook", ["RIS.example"])
    for url, message in (
        ("ftp://ris.example/x", "http:// or https://"),
        ("https://user:pw@ris.example/x", "credentials"),
        ("https://evil.example/x", "'evil.example' is not allowed"),
    ):
        with pytest.raises(CallbackRejected, match=message):
            check_callback(url, ["ris.example"])
    with pytest.raises(CallbackRejected, match="--callback-host"):
        check_callback("https://ris.example/x", [])
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.5")
