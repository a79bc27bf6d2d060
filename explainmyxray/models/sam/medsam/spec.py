"""MedSAM's model-registry entry.

Weights: ``medsam_vit_b.pth``, the MedSAM checkpoint (Ma et al., "Segment anything in medical
images", Nature Communications 2024), SAM ViT-B fine-tuned on about 1.5 million medical
image-mask pairs. The Hub repository ``wanglab/medsam-vit-base`` is given as its source but was
NOT verified here (no network): it may hold the transformers-format conversion rather than the
``.pth`` file, in which case download ``medsam_vit_b.pth`` from the MedSAM project page and give
it (or its folder) as ``weights:``. No revision is pinned.

Memory: see :data:`MEMORY_BYTES` and ``benchmarks/medsam_memory.py``.
"""

from __future__ import annotations

from ....core.plugin_api import ModelSpec
from .runner import CHECKPOINT_NAME, MedSAMRunner

MiB = 1024**2

MEMORY_BYTES = {"fp32": 374_956_544, "fp16": 202_034_176, "bf16": 202_034_176}
"""Resident size on the GPU, measured on an NVIDIA H200 by ``benchmarks/gpu_models.py``
(``results/gpu_models.json``). On the CPU (torch 2.14, 2-core machine) the growth of the process RSS
across :meth:`MedSAMRunner.load` of a random-weight ViT-B checkpoint
(``benchmarks/medsam_memory.py``, results in ``benchmarks/results/medsam_memory.json``):
380,739,584 bytes in fp32 (93,735,472 parameters; 374,942,936 bytes of tensors), 201,658,368 in
fp16 and 201,420,800 in bf16 (195,601,112 bytes of tensors: only the image encoder is cast, the
prompt encoder and mask decoder stay fp32). Unloading gave back 322 MiB (fp32) / 186 MiB."""

WORKSPACE_BYTES = {"fp32": 2176 * MiB, "fp16": 1152 * MiB, "bf16": 1152 * MiB}
"""Peak RSS growth while encoding a 2048x2048 image and decoding two box prompts: measured
2,257,887,232 bytes in fp32 (the encoder's four global-attention blocks hold 12 heads x 4096 x
4096 attention scores at 1024 px). fp16/bf16 are estimated at half (not measured: half-precision
matmuls on this CPU are too slow to run the benchmark; on a GPU they are the point)."""


def medsam_spec() -> ModelSpec:
    return ModelSpec(
        name="medsam",
        factory=MedSAMRunner,
        memory_bytes=MEMORY_BYTES,
        default_precision="fp32",
        family="sam",
        hub_id="wanglab/medsam-vit-base",
        revision=None,
        files=(CHECKPOINT_NAME,),
        license="Apache-2.0 (MedSAM code and weights; unverified for the Hub copy)",
        description=(
            "MedSAM ViT-B (SAM ViT-B fine-tuned on medical images, 1024 px): box-prompted lung "
            "and heart segmentation; Hub source unverified"
        ),
        extra="medsam",
    )


def workspace_bytes(precision: str | None) -> int:
    """Activation memory one image's encoding and prompts may need."""
    return WORKSPACE_BYTES.get(precision or "fp32", WORKSPACE_BYTES["fp32"])
