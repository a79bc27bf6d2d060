"""MedSAM ViT-B: box-promptable medical segmentation (the ``medsam`` localizer's model).

Importing this package is cheap (no torch); the network is built by :mod:`.architecture` when
the runner loads.
"""

from .architecture import ARCHITECTURES, INPUT_SIDE, build_sam_network
from .runner import CHECKPOINT_NAME, MedSAMRunner
from .segmenter import MedSAM, preprocess
from .spec import medsam_spec, workspace_bytes

__all__ = [
    "ARCHITECTURES",
    "CHECKPOINT_NAME",
    "INPUT_SIDE",
    "MedSAM",
    "MedSAMRunner",
    "build_sam_network",
    "medsam_spec",
    "preprocess",
    "workspace_bytes",
]
