"""Per-case image signals for drift monitoring, recorded while a run writes its cases.

The run keeps no pixels once a case is written, so the numbers a monitor compares later are
measured here, on the decoded image in memory, and saved as ``cases/<id>/signals.json``: grey-level
statistics of the whole image, the layout measurements of the quality checks, and a 16 x 16
area-averaged thumbnail (the image's coarse appearance, for a multivariate two-sample test). None
of them can identify a patient.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..core.case import Case
from ..core.results import atomic_write_json
from ..imaging.intensity import dynamic_range, sample
from ..imaging.layout import analyse_layout

SIGNALS_FILE = "signals.json"
SIGNALS_VERSION = 1
APPEARANCE_SIDE = 16
HISTOGRAM_BINS = 64


def image_signals(pixels: np.ndarray) -> dict[str, Any]:
    """Statistics of one grey image in ``[0, 1]`` (bright = dense)."""
    values = sample(pixels).astype(np.float64)
    p5, p50, p95 = np.percentile(values, [5, 50, 95])
    counts, _ = np.histogram(values, bins=HISTOGRAM_BINS, range=(0.0, 1.0))
    share = counts[counts > 0] / counts.sum()
    layout = analyse_layout(pixels)
    h, w = pixels.shape
    from PIL import Image

    small = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.float32), mode="F").resize(
        (APPEARANCE_SIDE, APPEARANCE_SIDE), Image.Resampling.BOX
    )
    return {
        "mean": round(float(values.mean()), 5),
        "std": round(float(values.std()), 5),
        "p05": round(float(p5), 5),
        "median": round(float(p50), 5),
        "p95": round(float(p95), 5),
        "dynamic_range": round(dynamic_range(pixels), 5),
        "entropy_bits": round(float(-(share * np.log2(share)).sum()), 5),
        "aspect_ratio": round(h / w, 5),
        "symmetry": round(layout.symmetry, 5),
        "appearance": [round(float(v), 4) for v in np.asarray(small).reshape(-1)],
    }


def write_signals(case: Case, case_dir: Path) -> Path | None:
    """A case writer: ``signals.json`` beside ``report.json`` when the case has pixels."""
    if case.image is None or case.image.pixels is None:
        return None
    path = Path(case_dir) / SIGNALS_FILE
    atomic_write_json(path, {"version": SIGNALS_VERSION, "image": image_signals(case.image.pixels)})
    return path
