"""LiteMedSAM (TinyViT encoder, 256 px): the ``litemedsam`` localizer's model.

Importing this package is cheap (no torch); the network is built when the runner loads.
"""

from .network import CHECKPOINT_FILENAME, LiteMedSAM, packaged_checkpoint, resolve_checkpoint
from .runner import LiteMedSAMRunner
from .spec import MEMORY_BYTES, MODEL, WORKSPACE_BYTES, litemedsam_spec

__all__ = [
    "CHECKPOINT_FILENAME",
    "MEMORY_BYTES",
    "MODEL",
    "WORKSPACE_BYTES",
    "LiteMedSAM",
    "LiteMedSAMRunner",
    "litemedsam_spec",
    "packaged_checkpoint",
    "resolve_checkpoint",
]
