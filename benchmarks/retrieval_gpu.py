"""BiomedCLIP (real architecture, random weights) and MiniLM on a CUDA device: resident memory
per precision (torch allocator), the activation peak of a batch, park/restore, throughput.

    python benchmarks/retrieval_gpu.py [--folder /tmp/biomedclip-random] [--batch 16]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def random_folder(folder: Path) -> Path:
    """BiomedCLIP's own config, random weights, a placeholder 30,522-token BERT vocabulary."""
    import torch
    from safetensors.torch import save_file

    from explainmyxray.models.biomedclip.config import BIOMEDCLIP_CONFIG, text_tower_config
    from explainmyxray.models.biomedclip.runner import build_model

    if (folder / "open_clip_model.safetensors").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "open_clip_config.json").write_text(json.dumps(BIOMEDCLIP_CONFIG))
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = specials + [f"w{i}" for i in range(30522 - len(specials))]
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "BertTokenizer", "do_lower_case": True})
    )
    text = text_tower_config(folder, BIOMEDCLIP_CONFIG["model_cfg"]["text_cfg"], None)
    torch.manual_seed(0)
    model = build_model(folder, BIOMEDCLIP_CONFIG, text, load_weights=False)
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        str(folder / "open_clip_model.safetensors"),
    )
    return folder


def measure(spec, folder: Path, precision: str, images, texts, batch: int) -> dict:
    import torch

    from explainmyxray.core.plugin_api import LoadRequest

    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    runner = spec.factory()
    start = time.perf_counter()
    runner.load(LoadRequest("cuda", precision, folder))
    torch.cuda.synchronize()
    result = {
        "model": spec.name,
        "precision": precision,
        "load_seconds": round(time.perf_counter() - start, 2),
        "resident_bytes": torch.cuda.memory_allocated() - base,
        "estimate_bytes": spec.estimate(precision),
    }
    embed = (
        (lambda: runner.embed_images(images, batch_size=batch))
        if images
        else (lambda: runner.embed_texts(texts, batch_size=batch))
    )
    first = embed()
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    resident = torch.cuda.memory_allocated()
    start = time.perf_counter()
    again = embed()
    torch.cuda.synchronize()
    result["batch_seconds"] = round(time.perf_counter() - start, 4)
    result["batch_peak_bytes"] = torch.cuda.max_memory_allocated() - resident
    result["repeatable"] = bool(np.allclose(first, again, atol=1e-3))
    if texts:
        result["text_batch_shape"] = list(runner.embed_texts(texts, batch_size=batch).shape)
    parked = runner.park()
    torch.cuda.synchronize()
    result["parked_host_bytes"] = parked
    result["gpu_after_park"] = torch.cuda.memory_allocated() - base
    runner.restore("cuda")
    result["restored_equal"] = bool(np.allclose(embed(), first, atol=1e-3))
    runner.unload()
    torch.cuda.synchronize()
    result["gpu_after_unload"] = torch.cuda.memory_allocated() - base
    return result


def main() -> None:
    import torch

    parser = argparse.ArgumentParser()
    parser.add_argument("--folder", type=Path, default=Path("/tmp/biomedclip-random"))
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    print(json.dumps({"torch": torch.__version__, "device": torch.cuda.get_device_name()}))
    from explainmyxray.models.biomedclip.spec import biomedclip_spec
    from explainmyxray.models.minilm.spec import minilm_spec, package_folder

    folder = random_folder(args.folder)
    rng = np.random.default_rng(0)
    images = [rng.random((1024, 1024), dtype=np.float32) for _ in range(args.batch)]
    texts = ["large right pleural effusion with adjacent atelectasis " * 20] * args.batch
    for precision in ("fp32", "fp16", "bf16"):
        print(json.dumps(measure(biomedclip_spec(), folder, precision, images, texts, args.batch)))
    minilm = package_folder()
    if minilm is not None:
        for precision in ("fp32", "fp16"):
            print(json.dumps(measure(minilm_spec(), minilm, precision, None, texts, args.batch)))


if __name__ == "__main__":
    main()
