"""Giving memory back after a model is built, cast or dropped."""

from __future__ import annotations

import gc
import sys


def release_memory(device: str | None = None) -> None:
    """Collect garbage, empty torch's CUDA cache, and return freed heap pages to the OS.

    Building a model in fp32 and casting it leaves the fp32 pages in the C heap; without the
    trim the process keeps them and the measured size of the model is twice its real size.
    """
    gc.collect()
    torch = sys.modules.get("torch")
    on_cuda = bool(device) and str(device).startswith("cuda")
    if torch is not None and on_cuda and torch.cuda.is_available():
        torch.cuda.empty_cache()
    _malloc_trim()


def _malloc_trim() -> None:
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name:
        return
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc: nothing to trim
        return
    trim(0)
