"""SAM network shapes MedSAM can be built in, from ``segment_anything``'s own building blocks.

``vit_b`` is MedSAM's (SAM ViT-B: 768-wide, 12 blocks, 12 heads, global attention in blocks
2, 5, 8 and 11). ``tiny`` is a test-size network of the same layout (image encoder 32 wide,
2 blocks) so the loader, preprocessing and prompt mapping can be exercised offline; it has no
released weights. The network is always built without a checkpoint: the runner reads the weights
itself with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ....core.errors import ConfigError, ModelError

INPUT_SIDE = 1024
"""SAM's input side; the image embedding is 64x64 (patch size 16) and the mask logits 256x256."""


@dataclass(frozen=True)
class SamShape:
    """The image encoder's size; prompt encoder and mask decoder are SAM's fixed ones."""

    embed_dim: int
    depth: int
    num_heads: int
    global_attn_indexes: tuple[int, ...]


ARCHITECTURES: dict[str, SamShape] = {
    "vit_b": SamShape(768, 12, 12, (2, 5, 8, 11)),
    "tiny": SamShape(32, 2, 2, (1,)),
}


def build_sam_network(architecture: str = "vit_b") -> Any:
    """An untrained SAM network (``segment_anything.modeling.Sam``) of ``architecture``."""
    try:
        shape = ARCHITECTURES[architecture]
    except KeyError:
        known = ", ".join(ARCHITECTURES)
        raise ConfigError(
            f"unknown MedSAM architecture {architecture!r} (known: {known})"
        ) from None
    try:
        from segment_anything.build_sam import _build_sam
    except ImportError as exc:
        raise ModelError(
            "MedSAM needs the segment-anything package: `pip install 'explainmyxray[medsam]'`"
        ) from exc
    return _build_sam(
        encoder_embed_dim=shape.embed_dim,
        encoder_depth=shape.depth,
        encoder_num_heads=shape.num_heads,
        encoder_global_attn_indexes=list(shape.global_attn_indexes),
        checkpoint=None,
    )
