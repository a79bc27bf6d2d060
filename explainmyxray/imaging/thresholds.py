"""Quality thresholds (pydantic only, so the plugin's options import without numpy or pydicom)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

FRONTAL_MIN_SYMMETRY = 0.45
"""Below this mirror symmetry an image is not taken for a frontal chest (real frontals: >= 0.65)."""
INVERTED_MAX_PROFILE = -0.3
"""A frontal-looking image whose column-profile correlation is below this is shown negative."""
CONFIDENT_INVERSION_PROFILE = -0.5
"""Stronger evidence, required before a reader overrides a file's photometric interpretation."""


class QualityThresholds(BaseModel):
    """Where each quality check draws its line (defaults calibrated on real files)."""

    model_config = ConfigDict(extra="forbid")

    min_side_px: int = Field(256, ge=1)
    max_side_px: int = Field(6000, ge=1)
    min_dynamic_range: float = Field(0.25, ge=0.0, le=1.0)
    min_symmetry: float = Field(FRONTAL_MIN_SYMMETRY, ge=-1.0, le=1.0)
    max_inverted_profile: float = Field(INVERTED_MAX_PROFILE, ge=-1.0, le=1.0)
    max_colour_fraction: float = Field(0.05, ge=0.0, le=1.0)
