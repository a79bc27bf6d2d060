"""Memory budgets and how real memory use is measured."""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from typing import Protocol

GiB = 1024**3
_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gib": 1024**3,
    "t": 1000**4,
    "tb": 1000**4,
    "tib": 1024**4,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(value: str | int | float) -> int:
    """``"12GiB"`` → bytes. Plain numbers are bytes. Raises ValueError with the accepted forms."""
    if isinstance(value, bool):
        raise ValueError("expected a size such as 12GiB or 512MB, got a boolean")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a size cannot be negative: {value}")
        return int(value)
    match = _SIZE.match(value)
    unit = match.group(2).lower() if match else None
    if not match or unit not in _UNITS:
        raise ValueError(f"expected a size such as 12GiB, 512MB or 2048 (bytes), got {value!r}")
    return int(float(match.group(1)) * _UNITS[unit])


def format_size(n: int | float | None) -> str:
    if n is None:
        return "-"
    for unit, size in (("GiB", GiB), ("MiB", 1024**2), ("KiB", 1024)):
        if abs(n) >= size:
            return f"{n / size:.2f} {unit}"
    return f"{int(n)} B"


def device_kind(device: str) -> str:
    """``"cuda:1"`` → ``"cuda"``; anything that is not CUDA is budgeted as host memory."""
    return "cuda" if device.startswith("cuda") else "cpu"


@dataclass(frozen=True)
class MemoryBudget:
    gpu_bytes: int = 12 * GiB
    cpu_bytes: int = 16 * GiB

    def for_device(self, device: str) -> int:
        return self.gpu_bytes if device_kind(device) == "cuda" else self.cpu_bytes


class MemoryProbe(Protocol):
    def used(self, device: str) -> int | None:
        """Bytes in use on ``device`` now, or None when it cannot be measured."""


def process_rss() -> int | None:
    try:
        with open(f"/proc/{os.getpid()}/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        return int(psutil.Process().memory_info().rss)
    except (ImportError, OSError):
        return None


class SystemProbe:
    """Torch's allocator on CUDA (only if torch is already imported), process RSS on the host."""

    def used(self, device: str) -> int | None:
        if device_kind(device) == "cuda":
            torch = sys.modules.get("torch")
            if torch is None or not torch.cuda.is_available():
                return None
            torch.cuda.synchronize(device)
            return int(torch.cuda.memory_allocated(device))
        return process_rss()
