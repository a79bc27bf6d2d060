"""Counting the CPU tensor memory a process holds, to check that unloading gives it back."""

from __future__ import annotations

import gc


def cpu_tensor_bytes() -> int:
    """Bytes of storage behind every live CPU tensor (after a garbage collection)."""
    import torch

    gc.collect()
    total = 0
    for obj in gc.get_objects():
        # type(), not isinstance(): the latter wakes deprecated lazy module attributes.
        if issubclass(type(obj), torch.Tensor) and obj.device.type == "cpu":
            total += obj.untyped_storage().nbytes()
    return total
