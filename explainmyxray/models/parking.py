"""Moving a torch module's weights to pinned host memory and back (for ``ParkableRunner``)."""

from __future__ import annotations

from typing import Any


def park_module(module: Any) -> int:
    """Move every parameter and buffer to pinned host memory; return the bytes now on the host.

    Pinned memory makes the copy back an asynchronous DMA transfer instead of a pageable copy.
    """
    import torch

    total = 0
    pin = torch.cuda.is_available()
    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            host = tensor.data.to("cpu")
            tensor.data = host.pin_memory() if pin else host
            total += tensor.numel() * tensor.element_size()
    if pin:
        torch.cuda.empty_cache()
    return total


def restore_module(module: Any, device: str) -> None:
    import torch

    with torch.no_grad():
        for tensor in [*module.parameters(), *module.buffers()]:
            tensor.data = tensor.data.to(device, non_blocking=True)
    if str(device).startswith("cuda"):
        torch.cuda.synchronize(device)


class ParksModule:
    """``park``/``restore`` for a runner whose ``_require()`` returns its torch module."""

    device: str | None

    def _require(self) -> Any:
        raise NotImplementedError

    def park(self) -> int:
        return park_module(self._require())

    def restore(self, device: str) -> None:
        restore_module(self._require(), device)
        self.device = device


class ParksSegmenterNet:
    """``park``/``restore`` for a runner whose ``_require()`` returns a segmenter with ``.net``.

    The segmenter's ``device`` follows the runner's on restore.
    """

    device: str | None

    def _require(self) -> Any:
        raise NotImplementedError

    def park(self) -> int:
        return park_module(self._require().net)

    def restore(self, device: str) -> None:
        model = self._require()
        restore_module(model.net, device)
        model.device = self.device = device
