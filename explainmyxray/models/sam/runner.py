"""What the box-promptable segmenter runners (LiteMedSAM, MedSAM) share: state, unload, parking."""

from __future__ import annotations

from typing import Any

from ..host_memory import release_memory
from ..parking import ParksSegmenterNet


class SegmenterRunner(ParksSegmenterNet):
    """A runner whose :attr:`model` is a loaded segmenter with ``net``, ``device`` and ``close()``.

    Subclasses implement ``load`` (setting :attr:`model` and :attr:`device`) and ``_require``.
    """

    def __init__(self) -> None:
        self.model: Any = None
        self.device: str | None = None

    @property
    def loaded(self) -> bool:
        return self.model is not None

    def unload(self) -> None:
        if self.model is not None:
            self.model.close()
        self.model = None
        release_memory(self.device)
