"""BiomedCLIP's model-registry entry.

Hub: ``microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224`` (MIT), the repository
open_clip's ``hf-hub:`` schema loads from. ``pull`` downloads its ``open_clip_config.json``, the
pickled ``open_clip_pytorch_model.bin`` (read with ``torch.load(weights_only=True)``; a
safetensors file in the folder is preferred when present) and the PubMedBERT tokenizer files. No
revision is pinned: none could be checked against the Hub from the offline machine this was
written on, so the default branch is used.

Memory: the real architecture (the Hub ``open_clip_config.json``; timm ViT-B/16 + PubMedBERT-base
with an MLP projection) built with random weights on CPU has 195,902,721 parameters (86,191,872
image tower, 109,710,848 text tower) = 783,619,076 bytes of tensors in fp32. Measured as the
growth of the process's resident set across :meth:`BiomedCLIPRunner.load` from a safetensors
folder, with torch, open_clip, timm and transformers already imported (torch 2.14,
open_clip 3.3, CPU): 801,767,424 bytes in fp32, 410,120,192 in fp16, 409,927,680 in bf16
(``benchmarks/retrieval_memory.py``). Embedding 8 radiographs of 1024 x 1024 at once took 742 MB
more at the peak on CPU (preprocessing included), budgeted as :data:`WORKSPACE_PER_ITEM`.

On an NVIDIA H200 (torch 2.11, CUDA 13; ``benchmarks/retrieval_gpu.py``) torch's allocator held
786,193,920 bytes after a fp32 load and 406,667,264 after a fp16 or bf16 load; a batch of 16
radiographs of 1024 x 1024 peaked 120 MiB (fp32) / 60 MiB (fp16) above that and took 0.105 s /
0.028 s, CPU preprocessing included. Parking moved 783,619,076 / 391,813,634 bytes to the host
and restoring gave the same embeddings.
"""

from __future__ import annotations

from ...core.plugin_api import ModelSpec
from .runner import BiomedCLIPRunner

MiB = 1024**2

BIOMEDCLIP = "biomedclip"
BIOMEDCLIP_HUB_ID = "microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"
# measured on an NVIDIA H200 by benchmarks/gpu_models.py (results/gpu_models.json)
MEMORY_BYTES = {"fp32": 786_193_920, "fp16": 406_667_264, "bf16": 406_667_264}
WORKSPACE_PER_ITEM = {"fp32": 96 * MiB, "fp16": 48 * MiB, "bf16": 48 * MiB}
FILES = ("open_clip_config.json", "open_clip_pytorch_model.bin", "vocab.txt", "tokenizer*")


def biomedclip_spec() -> ModelSpec:
    spec = ModelSpec(
        name=BIOMEDCLIP,
        factory=lambda: BiomedCLIPRunner(spec),
        memory_bytes=MEMORY_BYTES,
        default_precision="fp32",
        family="clip",
        hub_id=BIOMEDCLIP_HUB_ID,
        revision=None,
        files=FILES,
        license="MIT",
        description=(
            "BiomedCLIP (ViT-B/16 224 px + PubMedBERT, 512-d): radiograph and report embeddings "
            "for retrieval, zero-shot finding scores"
        ),
        extra="biomedclip",
    )
    return spec


def workspace_bytes(batch_size: int, precision: str | None) -> int:
    """Activation and preprocessing memory one batch of ``batch_size`` images may need."""
    per_item = WORKSPACE_PER_ITEM.get(precision or "fp32", WORKSPACE_PER_ITEM["fp32"])
    return batch_size * per_item
