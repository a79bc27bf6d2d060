"""The registry entry of PaliGemma 2 (3B, 896 px), a second report generator for ensembles."""

from __future__ import annotations

from explainmyxray.core.plugin_api import ModelSpec

from .runner import PaliGemmaRunner

PALIGEMMA2_3B_896 = "paligemma2-3b-pt-896"
PALIGEMMA2_3B_896_HUB_ID = "google/paligemma2-3b-pt-896"

PARAMETERS = 3_036_666_096
"""Unique parameters of the real config (Gemma 2 2B text, SigLIP So400m/14 at 896 px, linear
projector; the LM head is tied to the embeddings): counted by building
``PaliGemmaForConditionalGeneration`` on the meta device from the config in
:data:`.tiny.PALIGEMMA2_3B_896_TEXT` / :data:`.tiny.PALIGEMMA2_3B_896_VISION`
(``tests/models/test_paligemma.py`` recounts it)."""
LINEAR_PARAMETERS = 2_438_000_640
"""Of those, the weights of ``nn.Linear`` layers other than the LM head: what bitsandbytes turns
into 4-bit. The rest (598,665,456, almost all the 257,216 x 2,304 embedding) stays bf16."""

NF4_BYTES_PER_WEIGHT = 0.5 + 1 / 64 + 4 / (64 * 256)
"""4 bits a weight, one 8-bit absmax per block of 64, one fp32 constant per 256 blocks (double
quantization)."""

# measured on an NVIDIA H200 by benchmarks/gpu_models.py (results/gpu_models.json);
# the parameter counts above give 6.07 / 2.45 / 12.15 GB
PALIGEMMA2_3B_896_MEMORY = {"bf16": 6_073_432_064, "nf4": 2_456_634_880, "fp32": 12_146_703_872}
"""Bytes of the loaded weights. bf16 is the default: 6 GB fits beside MedGemma on one card, and
4-bit costs the small model more accuracy than it saves memory."""

IMAGE_TOKENS = 4096
"""(896 / 14)^2 SigLIP patches, each one token of the prefix."""
WORKSPACE_BYTES_PER_TOKEN = 180_000
"""GPU memory one token takes while generating at bf16: the KV cache is 2 x 26 layers x 4 KV
heads x 256 x 2 bytes = 106 kB a token; MedGemma measured about 1.6 times its KV cache in all
(206-229 kB for 139 kB of cache), hence 180 kB. Not measured for PaliGemma; fp32 doubles it."""
CHARS_PER_TOKEN = 3

PALIGEMMA2_3B_896_FILES = (
    "config.json",
    "*.safetensors",
    "tokenizer*",
    "preprocessor_config.json",
    "*.json",
)
"""What ``pull`` downloads (and ``locate`` expects): safetensors shards and index, tokenizer and
processor JSON files. No pickled weights."""


def estimate_workspace(
    *,
    batch_size: int,
    prompt_chars: int,
    max_context_tokens: int,
    max_new_tokens: int,
    precision: str | None = None,
) -> int:
    """The GPU memory a batch needs beside the weights: tokens per case times bytes per token."""
    tokens = IMAGE_TOKENS + prompt_chars // CHARS_PER_TOKEN + max_context_tokens + max_new_tokens
    per_token = WORKSPACE_BYTES_PER_TOKEN * (2 if precision == "fp32" else 1)
    return batch_size * tokens * per_token


def paligemma2_3b_896_spec() -> ModelSpec:
    spec = ModelSpec(
        name=PALIGEMMA2_3B_896,
        factory=lambda: PaliGemmaRunner(spec),
        memory_bytes=PALIGEMMA2_3B_896_MEMORY,
        default_precision="bf16",
        family="paligemma",
        hub_id=PALIGEMMA2_3B_896_HUB_ID,
        files=PALIGEMMA2_3B_896_FILES,
        license="Gemma terms of use (gated)",
        description=(
            "PaliGemma 2 3B pretrained at 896 px (Gemma 2 + SigLIP): a second report writer for "
            "ensembles. The pt checkpoint, not a mix one: Google publishes mix checkpoints only "
            "at 224 and 448 px, and 896 px keeps the fine detail of a chest X-ray; pt is the "
            "base meant for fine-tuning (its zero-shot reports are rough until it is tuned on "
            "PadChest-style reports). Gated on the Hub: accept the terms, set HF_TOKEN, pull."
        ),
        extra="medgemma",
        aliases=("paligemma", "paligemma2"),
    )
    return spec
