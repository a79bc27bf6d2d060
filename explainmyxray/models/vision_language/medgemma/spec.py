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

WORKSPACE_BYTES_PER_TOKEN = 315_000
WORKSPACE_BYTES_PER_TOKEN_WITH_ADAPTER = 375_000
"""GPU memory one token of a sequence takes while generating (KV cache, prefill activations and
the fast path's CUDA-graph pool): ``benchmarks/gpu_pipeline.py --phases steps`` measured peak
reserved minus weights of 301 MB per sequence of 960 tokens at bf16 batch 16 (314 kB a token;
270 kB at batch 32) on an H200; ``benchmarks/medgemma_memory.py`` measured 206-229 kB without the
fast path and 272 kB with an r=32 all-linear LoRA adapter (batches of 1 to 8, 1,405 tokens)."""
MEDGEMMA_4B_STEP_MS = {"bf16": (5.79, 0.0342), "nf4": (9.79, 0.0847)}
"""One decoding step of the fast path (windowed attention, fused norms, CUDA graph) on an H200:
6.34 ms at bf16 batch 16 and 6.89 ms at batch 32; 11.14 and 12.50 ms at NF4
(``benchmarks/results/gpu_pipeline.json``, ``steps`` and ``steps_nf4``), as fixed +
per-sequence milliseconds for the planner's ``batch_size: auto``."""
IMAGE_TOKENS = 256
CHARS_PER_TOKEN = 4
"""Characters per token of the instruction text, on the cautious side: Gemma's tokenizer takes
about 4 to 5 characters of English prose a token (the built-in instruction, 2,295 characters,
is 466 tokens for the tokenizer the benchmarks use)."""

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
        step_ms=MEDGEMMA_4B_STEP_MS,
    )
    return spec
