"""Contrast scores for each radiograph: RMS contrast and histogram entropy."""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from explainmyxray import hookimpl


class ContrastOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bins: int = Field(default=256, ge=2, le=65536)


@hookimpl
def register_stages(register):
    register("score", options=ContrastOptions, description="RMS contrast and entropy of the image")


@hookimpl
def score(cases, step):
    from explainmyxray.core.case import Score

    options: ContrastOptions = step.options
    results = []
    for case in cases:
        if case.image is None or case.image.pixels is None:
            results.append(ValueError("no decoded image to measure"))
            continue
        pixels = case.image.pixels.astype(np.float64)
        counts, _ = np.histogram(pixels, bins=options.bins, range=(0.0, 1.0))
        p = counts[counts > 0] / counts.sum()
        results.append(
            [
                Score(metric="contrast.rms", value=float(pixels.std())),
                Score(
                    metric="contrast.entropy_bits",
                    value=float(-(p * np.log2(p)).sum()),
                    details={"bins": options.bins},
                ),
            ]
        )
    return results
