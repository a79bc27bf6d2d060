"""Start and stop a real ``explainmyxray serve`` process on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]
LIGHT = Path(__file__).with_name("light.yaml")
REPORT = "FINDINGS: Cardiomegaly. Small left pleural effusion.\nIMPRESSION: Cardiomegaly."
TERMINAL = {"finished", "failed", "cancelled"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(
        self, pipeline: Path | str, data: Path, *args: str, token: str | None = None
    ) -> None:
        self.pipeline = str(pipeline)
        self.data = data
        self.args = list(args)
        self.token = token
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = data.parent / f"{data.name}-server.log"
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 90) -> Server:
        env = dict(os.environ, PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", PYTHONUNBUFFERED="1")
        env.pop("EXPLAINMYXRAY_API_TOKEN", None)
        if self.token:
            env["EXPLAINMYXRAY_API_TOKEN"] = self.token
        command = [sys.executable, "-m", "explainmyxray", "serve", self.pipeline]
        command += ["--port", str(self.port), "--data", str(self.data), *self.args]
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=REPO)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"the server exited ({self.process.returncode}):\n{self.output()}"
                )
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.kill()
        raise RuntimeError(f"the server was not ready within {timeout} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def client(self, token: str | None = "default") -> httpx.Client:
        token = self.token if token == "default" else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30)

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM (uvicorn's graceful shutdown), then wait; returns the exit status."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)


def submit(
    client: httpx.Client,
    files: list[Path],
    *,
    report: str | None = REPORT,
    key: str | None = None,
    **data: str,
) -> httpx.Response:
    uploads = [("files", (p.name, p.read_bytes(), "application/octet-stream")) for p in files]
    fields = dict(data)
    if report is not None:
        fields["report"] = report
    headers = {"Idempotency-Key": key} if key else {}
    return client.post("/v1/jobs", files=uploads, data=fields, headers=headers)


def wait_job(client: httpx.Client, job_id: str, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}").json()
        if job["state"] in TERMINAL:
            return job
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} did not end within {timeout} s: {job}")
