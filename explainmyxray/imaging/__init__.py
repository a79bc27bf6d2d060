"""Reading radiographs (DICOM, PNG, JPEG) into :class:`~explainmyxray.core.case.XrayImage` and
checking their quality.

``read_xray(path)`` returns the image (grey float32 in ``[0, 1]``, bright = dense, original size)
and de-identified metadata; ``assess_quality(image, metadata)`` returns the quality flags.
Names are imported on first use, so ``import explainmyxray.imaging.thresholds`` stays light
(no numpy, Pillow or pydicom).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .layout import ChestLayout, analyse_layout
    from .quality import assess_quality
    from .reader import read_xray, sniff_format
    from .thresholds import QualityThresholds

_EXPORTS = {
    "ChestLayout": "layout",
    "analyse_layout": "layout",
    "assess_quality": "quality",
    "read_xray": "reader",
    "sniff_format": "reader",
    "QualityThresholds": "thresholds",
}

__all__ = [
    "ChestLayout",
    "QualityThresholds",
    "analyse_layout",
    "assess_quality",
    "read_xray",
    "sniff_format",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value
