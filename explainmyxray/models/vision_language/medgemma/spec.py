"""The registry entry of MedGemma-4B-it."""

from __future__ import annotations

from explainmyxray.core.plugin_api import ModelSpec

from .runner import MedGemmaRunner

MEDGEMMA_4B = "medgemma-4b-it"
MEDGEMMA_4B_HUB_ID = "google/medgemma-4b-it"
MEDGEMMA_4B_REVISION = "290cda5eeccbee130f987c4ad74a59ae6f196408"
"""The snapshot commit several public projects load this model from (their Hugging Face cache
folder ``models--google--medgemma-4b-it/snapshots/<commit>``); it could not be checked against
the Hub from the offline machine this was written on, so ``explainmyxray models pull`` is the
first place it is verified."""

GB = 10**9
# measured on an NVIDIA H200 by benchmarks/gpu_models.py (results/gpu_models.json)
MEDGEMMA_4B_MEMORY = {"bf16": 8_600_260_096, "nf4": 3_229_434_368, "fp32": 17_200_358_400}
"""Resident bytes once loaded, best precision first (the planner's ``auto`` takes the first that
fits). Activations and the KV cache are not included; the step reserves them as workspace."""

WORKSPACE_BYTES_PER_TOKEN = 240_000
WORKSPACE_BYTES_PER_TOKEN_WITH_ADAPTER = 290_000
"""GPU memory one token of a sequence takes while generating (KV cache and activations), a little
above what ``benchmarks/medgemma_memory.py`` measured on the 4B shapes: 206-229 kB per token at
bf16 and nf4, 272 kB with an r=32 all-linear LoRA adapter (batches of 1 to 8, 1,405 tokens)."""
IMAGE_TOKENS = 256
CHARS_PER_TOKEN = 3
"""A cautious guess of the Gemma tokenizer's characters per token for the instruction text."""

MEDGEMMA_4B_FILES = (
    "config.json",
    "*.safetensors",
    "tokenizer*",
    "preprocessor_config.json",
    "*.json",
)
"""What ``pull`` downloads (and ``locate`` expects): the safetensors shards and their index, the
tokenizer, the processor and chat-template JSON files. No pickled ``.bin`` weights."""


def estimate_workspace(
    *,
    batch_size: int,
    prompt_chars: int,
    max_context_tokens: int,
    max_new_tokens: int,
    adapter: bool,
) -> int:
    """The GPU memory a batch needs beside the weights: tokens per case times bytes per token."""
    tokens = IMAGE_TOKENS + prompt_chars // CHARS_PER_TOKEN + max_context_tokens + max_new_tokens
    per_token = WORKSPACE_BYTES_PER_TOKEN_WITH_ADAPTER if adapter else WORKSPACE_BYTES_PER_TOKEN
    return batch_size * tokens * per_token


def medgemma_4b_spec() -> ModelSpec:
    spec = ModelSpec(
        name=MEDGEMMA_4B,
        factory=lambda: MedGemmaRunner(spec),
        memory_bytes=MEDGEMMA_4B_MEMORY,
        default_precision="nf4",
        family="medgemma",
        hub_id=MEDGEMMA_4B_HUB_ID,
        revision=MEDGEMMA_4B_REVISION,
        files=MEDGEMMA_4B_FILES,
        license="Health AI Developer Foundations terms (gated)",
        description=(
            "MedGemma 4B instruction-tuned (Gemma 3 + SigLIP): writes the chest X-ray report; "
            "optional LoRA adapter. Gated on the Hub: accept the terms, set HF_TOKEN, then pull."
        ),
        extra="medgemma",
        aliases=("medgemma",),
    )
    return spec
