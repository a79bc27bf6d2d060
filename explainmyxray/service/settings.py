"""Everything ``explainmyxray serve`` can be told, with the defaults a pilot starts from."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class ServiceSettings:
    pipeline: str
    data_dir: Path = Path("explainmyxray-serve")
    device: str | None = None
    preload: bool = False
    token: str | None = None
    max_upload_bytes: int = 64 << 20
    max_files: int = 32
    max_report_chars: int = 20_000
    batch_window_s: float = 0.05
    """How long the worker waits for more cases once work arrives, unless a batch is full."""
    rate_per_minute: float = 120.0
    rate_burst: int = 60
    max_active_jobs: int = 64
    """Queued or running jobs one client may have at once."""
    job_options: list[str] = field(default_factory=list)
    """Step options a job may set, as ``stage:plugin.option``."""
    callback_hosts: list[str] = field(default_factory=list)
    cors_origins: list[str] = field(default_factory=list)
    shutdown_timeout_s: float = 30.0
    """On shutdown, how long the running batch may take to finish before it is re-queued."""
    plugins: list[str] = field(default_factory=list)
    no_plugins: list[str] = field(default_factory=list)

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"

    def job_dir(self, job_id: str) -> Path:
        return self.jobs_dir / job_id
