"""The job queue and job records: SQLite in WAL mode, in the service's data folder.

Every state change is one transaction, so a crash (even ``kill -9``) leaves the queue consistent:
on start-up :meth:`JobStore.recover` puts the cases that were running back in the queue, and a
case is marked finished only by the batch that claimed it (a case is never finished twice).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DB_FILE = "queue.sqlite3"
JOB_STATES = ("queued", "running", "finished", "failed", "cancelled")
CASE_STATES = ("queued", "running", "finished", "failed", "cancelled")
TERMINAL = frozenset({"finished", "failed", "cancelled"})
MAX_ATTEMPTS = 3
"""A case whose batch was interrupted this many times (the server died each time) is failed, so
one input that crashes the process cannot keep the queue from moving."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    client TEXT NOT NULL,
    state TEXT NOT NULL,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    finished REAL,
    report_text TEXT,
    callback_url TEXT,
    callback_state TEXT,
    idempotency_key TEXT,
    request_hash TEXT NOT NULL,
    options TEXT,
    variant TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS jobs_idempotency
    ON jobs(client, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE TABLE IF NOT EXISTS cases (
    job_id TEXT NOT NULL REFERENCES jobs(id),
    position INTEGER NOT NULL,
    case_id TEXT NOT NULL,
    source TEXT NOT NULL,
    media TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    state TEXT NOT NULL,
    batch_id TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    errors TEXT,
    started REAL,
    finished REAL,
    PRIMARY KEY (job_id, position)
);
CREATE INDEX IF NOT EXISTS cases_state ON cases(state);
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY,
    started REAL NOT NULL,
    finished REAL,
    size INTEGER NOT NULL,
    jobs INTEGER NOT NULL,
    state TEXT NOT NULL
);
"""


class IdempotencyConflict(Exception):
    """The Idempotency-Key was used before for a different request."""


@dataclass(frozen=True)
class NewCase:
    case_id: str
    source: str
    media: str
    sha256: str
    bytes: int


@dataclass(frozen=True)
class ClaimedCase:
    job_id: str
    position: int
    case_id: str
    source: str
    report_text: str | None
    sha256: str = ""


@dataclass(frozen=True)
class Batch:
    id: str
    cases: tuple[ClaimedCase, ...]
    options: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The per-job pipeline options every case of this batch shares."""

    @property
    def job_ids(self) -> list[str]:
        return list(dict.fromkeys(c.job_id for c in self.cases))


@dataclass(frozen=True)
class CaseOutcome:
    job_id: str
    position: int
    ok: bool
    errors: list[dict[str, Any]]


def new_id() -> str:
    return uuid.uuid4().hex


class JobStore:
    """Thread-safe: each thread gets its own connection; writes take the database lock up front
    (``BEGIN IMMEDIATE``) so two writers never deadlock on an upgrade."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / DB_FILE
        self._local = threading.local()
        self._connection().executescript(_SCHEMA)

    # --- connections ------------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            self._local.db = db
        return db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        db = self._connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def journal_mode(self) -> str:
        return str(self._connection().execute("PRAGMA journal_mode").fetchone()[0])

    def check_writable(self) -> None:
        """Raise if the queue cannot take a write lock right now."""
        with self._write() as db:
            db.execute("SELECT 1")

    # --- jobs -------------------------------------------------------------------------------

    def find_idempotent(self, client: str, key: str, request_hash: str) -> str | None:
        """The job an earlier request with this key created, if any."""
        row = (
            self._connection()
            .execute(
                "SELECT id, request_hash FROM jobs WHERE client = ? AND idempotency_key = ?",
                (client, key),
            )
            .fetchone()
        )
        if row is None:
            return None
        if row["request_hash"] != request_hash:
            raise IdempotencyConflict(key)
        return str(row["id"])

    def create_job(
        self,
        job_id: str,
        *,
        client: str,
        cases: Sequence[NewCase],
        request_hash: str,
        report_text: str | None = None,
        callback_url: str | None = None,
        idempotency_key: str | None = None,
        options: dict[str, dict[str, Any]] | None = None,
        variant: str = "",
    ) -> str:
        """Insert a job and its cases in one transaction; returns the id of the job that holds
        the request (an earlier one when the same Idempotency-Key won a race)."""
        now = time.time()
        try:
            with self._write() as db:
                db.execute(
                    "INSERT INTO jobs (id, client, state, created, updated, report_text,"
                    " callback_url, idempotency_key, request_hash, options, variant)"
                    " VALUES (?, ?, 'queued', ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        job_id,
                        client,
                        now,
                        now,
                        report_text,
                        callback_url,
                        idempotency_key,
                        request_hash,
                        json.dumps(options) if options else None,
                        variant,
                    ),
                )
                db.executemany(
                    "INSERT INTO cases (job_id, position, case_id, source, media, sha256, bytes,"
                    " state) VALUES (?, ?, ?, ?, ?, ?, ?, 'queued')",
                    [
                        (job_id, i, c.case_id, c.source, c.media, c.sha256, c.bytes)
                        for i, c in enumerate(cases)
                    ],
                )
        except sqlite3.IntegrityError:
            if idempotency_key is None:
                raise
            existing = self.find_idempotent(client, idempotency_key, request_hash)
            if existing is None:
                raise
            return existing
        return job_id

    def job(self, job_id: str) -> dict[str, Any] | None:
        db = self._connection()
        row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            return None
        cases = db.execute(
            "SELECT * FROM cases WHERE job_id = ? ORDER BY position", (job_id,)
        ).fetchall()
        job = dict(row)
        job["cases"] = [_case_dict(c) for c in cases]
        return job

    def case(self, job_id: str, case_id: str) -> dict[str, Any] | None:
        row = (
            self._connection()
            .execute("SELECT * FROM cases WHERE job_id = ? AND case_id = ?", (job_id, case_id))
            .fetchone()
        )
        return _case_dict(row) if row is not None else None

    def jobs(self, limit: int = 50) -> list[dict[str, Any]]:
        rows = (
            self._connection()
            .execute(
                "SELECT j.id, j.state, j.created, j.updated, j.finished,"
                " COUNT(c.position) AS total,"
                " SUM(c.state = 'finished') AS finished_cases,"
                " SUM(c.state = 'failed') AS failed_cases"
                " FROM jobs j LEFT JOIN cases c ON c.job_id = j.id"
                " GROUP BY j.id ORDER BY j.created DESC LIMIT ?",
                (limit,),
            )
            .fetchall()
        )
        return [dict(r) for r in rows]

    def active_jobs(self, client: str) -> int:
        row = (
            self._connection()
            .execute(
                "SELECT COUNT(*) FROM jobs WHERE client = ? AND state IN ('queued', 'running')",
                (client,),
            )
            .fetchone()
        )
        return int(row[0])

    def cancel(self, job_id: str) -> tuple[str, bool] | None:
        """Cancel a job that has not ended: its queued and running cases become cancelled (a
        running batch's results for them are discarded). Returns the job's state afterwards and
        whether this call cancelled it; None for an unknown job."""
        now = time.time()
        with self._write() as db:
            row = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if row is None:
                return None
            if row["state"] in TERMINAL:
                return str(row["state"]), False
            db.execute(
                "UPDATE cases SET state = 'cancelled', finished = ?"
                " WHERE job_id = ? AND state IN ('queued', 'running')",
                (now, job_id),
            )
            db.execute(
                "UPDATE jobs SET state = 'cancelled', updated = ?, finished = ?, callback_state ="
                " CASE WHEN callback_url IS NULL THEN NULL ELSE 'pending' END WHERE id = ?",
                (now, now, job_id),
            )
        return "cancelled", True

    def set_callback_state(self, job_id: str, state: str) -> None:
        with self._write() as db:
            db.execute("UPDATE jobs SET callback_state = ? WHERE id = ?", (state, job_id))

    def pending_callbacks(self) -> list[str]:
        """Ended jobs whose callback was not delivered yet (the server stopped before)."""
        rows = (
            self._connection()
            .execute(
                "SELECT id FROM jobs WHERE callback_url IS NOT NULL AND state IN"
                " ('finished', 'failed', 'cancelled') AND (callback_state IS NULL"
                " OR callback_state = 'pending')"
            )
            .fetchall()
        )
        return [r["id"] for r in rows]

    # --- the queue --------------------------------------------------------------------------

    def queued_cases(self) -> int:
        row = self._connection().execute("SELECT COUNT(*) FROM cases WHERE state = 'queued'")
        return int(row.fetchone()[0])

    def claim_batch(self, size: int) -> Batch | None:
        """Take up to ``size`` queued cases as one batch, fairly: round-robin over jobs (every
        job's first queued case, oldest job first, then every job's second one...), so a large
        job shares the engine with small ones instead of going first in full. A batch holds one
        pipeline variant: the one of the oldest job waiting."""
        now = time.time()
        with self._write() as db:
            oldest = db.execute(
                "SELECT j.variant, j.options FROM jobs j WHERE EXISTS (SELECT 1 FROM cases c"
                " WHERE c.job_id = j.id AND c.state = 'queued') ORDER BY j.created, j.id LIMIT 1"
            ).fetchone()
            if oldest is None:
                return None
            rows = db.execute(
                "SELECT q.job_id, q.position, q.case_id, q.source, q.sha256, j.report_text FROM ("
                "  SELECT job_id, position, case_id, source, sha256,"
                "   ROW_NUMBER() OVER (PARTITION BY job_id ORDER BY position) AS turn"
                "  FROM cases WHERE state = 'queued'"
                ") q JOIN jobs j ON j.id = q.job_id WHERE j.variant = ?"
                " ORDER BY q.turn, j.created, j.id LIMIT ?",
                (oldest["variant"], size),
            ).fetchall()
            batch_id = new_id()[:12]
            db.executemany(
                "UPDATE cases SET state = 'running', batch_id = ?, attempts = attempts + 1,"
                " started = ? WHERE job_id = ? AND position = ?",
                [(batch_id, now, r["job_id"], r["position"]) for r in rows],
            )
            jobs = list(dict.fromkeys(r["job_id"] for r in rows))
            db.executemany(
                "UPDATE jobs SET state = 'running', updated = ? WHERE id = ? AND state = 'queued'",
                [(now, j) for j in jobs],
            )
            db.execute(
                "INSERT INTO batches (id, started, size, jobs, state)"
                " VALUES (?, ?, ?, ?, 'running')",
                (batch_id, now, len(rows), len(jobs)),
            )
        cases = tuple(
            ClaimedCase(
                r["job_id"], r["position"], r["case_id"], r["source"], r["report_text"], r["sha256"]
            )
            for r in rows
        )
        return Batch(batch_id, cases, json.loads(oldest["options"]) if oldest["options"] else {})

    def finish_batch(
        self, batch: Batch, outcomes: Sequence[CaseOutcome]
    ) -> tuple[list[CaseOutcome], list[str]]:
        """Record each case's outcome if it still belongs to this batch (a cancelled case does
        not). Returns (outcomes not recorded, jobs that ended with this batch)."""
        now = time.time()
        dropped: list[CaseOutcome] = []
        with self._write() as db:
            for outcome in outcomes:
                updated = db.execute(
                    "UPDATE cases SET state = ?, errors = ?, finished = ?"
                    " WHERE job_id = ? AND position = ? AND state = 'running' AND batch_id = ?",
                    (
                        "finished" if outcome.ok else "failed",
                        json.dumps(outcome.errors) if outcome.errors else None,
                        now,
                        outcome.job_id,
                        outcome.position,
                        batch.id,
                    ),
                ).rowcount
                if not updated:
                    dropped.append(outcome)
            db.execute(
                "UPDATE batches SET state = 'finished', finished = ? WHERE id = ?", (now, batch.id)
            )
            ended = [j for j in batch.job_ids if _settle_job(db, j, now)]
        return dropped, ended

    def requeue_batch(self, batch: Batch) -> int:
        """Put a batch's still-running cases back in the queue (a graceful stop cut it short)."""
        with self._write() as db:
            count = db.execute(
                "UPDATE cases SET state = 'queued', batch_id = NULL, started = NULL,"
                " attempts = MAX(attempts - 1, 0) WHERE batch_id = ? AND state = 'running'",
                (batch.id,),
            ).rowcount
            db.execute("UPDATE batches SET state = 'requeued' WHERE id = ?", (batch.id,))
        return count

    def recover(self) -> tuple[int, int]:
        """After a crash: cases left running go back to the queue, or fail after
        :data:`MAX_ATTEMPTS` interrupted tries. Returns (requeued, failed)."""
        now = time.time()
        error = json.dumps(
            [
                {
                    "stage": "service",
                    "plugin": "serve",
                    "error_type": "ServerStopped",
                    "message": f"the server stopped {MAX_ATTEMPTS} times while this case ran",
                }
            ]
        )
        with self._write() as db:
            failed = db.execute(
                "UPDATE cases SET state = 'failed', errors = ?, finished = ?"
                " WHERE state = 'running' AND attempts >= ?",
                (error, now, MAX_ATTEMPTS),
            ).rowcount
            requeued = db.execute(
                "UPDATE cases SET state = 'queued', batch_id = NULL, started = NULL"
                " WHERE state = 'running'"
            ).rowcount
            db.execute("UPDATE batches SET state = 'interrupted' WHERE state = 'running'")
            for (job_id,) in db.execute(
                "SELECT id FROM jobs WHERE state IN ('queued', 'running')"
            ).fetchall():
                _settle_job(db, job_id, now)
        return requeued, failed

    def known_job_ids(self) -> set[str]:
        return {r[0] for r in self._connection().execute("SELECT id FROM jobs").fetchall()}

    # --- figures for /metrics ---------------------------------------------------------------

    def counts(self) -> dict[str, dict[str, int]]:
        db = self._connection()
        jobs = dict.fromkeys(JOB_STATES, 0)
        cases = dict.fromkeys(CASE_STATES, 0)
        for state, n in db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state"):
            jobs[state] = n
        for state, n in db.execute("SELECT state, COUNT(*) FROM cases GROUP BY state"):
            cases[state] = n
        return {"jobs": jobs, "cases": cases}


def _settle_job(db: sqlite3.Connection, job_id: str, now: float) -> bool:
    """Set a job's state from its cases; True when this made it end."""
    job = db.execute("SELECT state FROM jobs WHERE id = ?", (job_id,)).fetchone()
    if job is None or job["state"] in TERMINAL:
        return False
    counts = dict.fromkeys(CASE_STATES, 0)
    for state, n in db.execute(
        "SELECT state, COUNT(*) FROM cases WHERE job_id = ? GROUP BY state", (job_id,)
    ):
        counts[state] = n
    if counts["queued"] or counts["running"]:
        started = counts["running"] or counts["finished"] or counts["failed"]
        state = "running" if started else "queued"
        db.execute("UPDATE jobs SET state = ?, updated = ? WHERE id = ?", (state, now, job_id))
        return False
    state = "failed" if counts["failed"] and not counts["finished"] else "finished"
    db.execute(
        "UPDATE jobs SET state = ?, updated = ?, finished = ?, callback_state = CASE WHEN"
        " callback_url IS NULL THEN NULL ELSE 'pending' END WHERE id = ?",
        (state, now, now, job_id),
    )
    return True


def _case_dict(row: sqlite3.Row) -> dict[str, Any]:
    case = dict(row)
    case["errors"] = json.loads(case["errors"]) if case["errors"] else []
    return case
