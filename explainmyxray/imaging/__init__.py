"""Reading radiographs (DICOM, PNG, JPEG) into :class:`~explainmyxray.core.case.XrayImage` and
checking their quality.

``read_xray(path)`` returns the image (grey float32 in ``[0, 1]``, bright = dense, original size)
and de-identified metadata; ``assess_quality(image, metadata)`` returns the quality flags.
"""

from .layout import ChestLayout, analyse_layout
from .quality import QualityThresholds, assess_quality
from .reader import read_xray, sniff_format

__all__ = [
    "ChestLayout",
    "QualityThresholds",
    "analyse_layout",
    "assess_quality",
    "read_xray",
    "sniff_format",
]
