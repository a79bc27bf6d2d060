"""CheXbert's model-registry entry.

Weights: ``chexbert.pth`` as released by the CheXbert authors (Stanford AIMI), mirrored on the
Hugging Face Hub in ``StanfordAIMI/RRG_scorers`` (the repository the ``f1chexbert`` and
``radgraph`` packages download their scorers from). No revision is pinned: no commit hash of
that repository has been verified here, so the default branch is used.

Memory: measured on this project's development machine (CPU, torch 2.14, transformers 5.24) as
the growth of the process's resident set size across :meth:`CheXbertRunner.load` of a
real-size checkpoint in the published layout (``bert-base-uncased`` configuration, random
weights, 109,523,766 parameters = 438,095,064 bytes in fp32): 448,430,080 bytes in fp32,
227,274,752 in fp16 and 229,855,232 in bf16. Running a batch costs about 30 MiB of
activations per report at the full 512 word pieces (measured: 242 MiB peak RSS growth for 8
reports of 512 tokens on CPU), budgeted as :data:`WORKSPACE_PER_REPORT`.
"""

from __future__ import annotations

from ...core.plugin_api import ModelSpec
from .runner import CHECKPOINT_NAME, CheXbertRunner

MiB = 1024**2

# measured on an NVIDIA H200 by benchmarks/gpu_models.py (results/gpu_models.json)
MEMORY_BYTES = {"fp32": 439_242_752, "fp16": 235_750_912, "bf16": 235_750_912}
WORKSPACE_PER_REPORT = {"fp32": 32 * MiB, "fp16": 16 * MiB, "bf16": 16 * MiB}


def chexbert_spec() -> ModelSpec:
    return ModelSpec(
        name="chexbert",
        factory=CheXbertRunner,
        memory_bytes=MEMORY_BYTES,
        default_precision="fp32",
        family="bert",
        hub_id="StanfordAIMI/RRG_scorers",
        revision=None,
        files=(CHECKPOINT_NAME,),
        license="CheXbert terms: research use; commercial use needs a Stanford licence",
        description=(
            "CheXbert radiology-report labeler (Smit et al. 2020): BERT-base + 14 CheXpert "
            "heads; needs the bert-base-uncased tokenizer too"
        ),
        extra="chexbert",
    )


def workspace_bytes(batch_size: int, precision: str | None) -> int:
    """Activation memory a batch of ``batch_size`` full-length reports may need."""
    per_report = WORKSPACE_PER_REPORT.get(precision or "fp32", WORKSPACE_PER_REPORT["fp32"])
    return batch_size * per_report
