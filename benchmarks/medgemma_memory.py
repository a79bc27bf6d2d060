"""GPU memory and speed of the MedGemma runner on a MedGemma-4B-shaped model with random weights.

The gated weights cannot be fetched here, so this builds the same architecture (Gemma 3 text,
2560 wide, 34 layers; SigLIP 1152 wide, 27 layers, 896 px; 256 image tokens) with random weights,
saves it as safetensors and loads it through :class:`MedGemmaRunner` like real weights. Resident
memory and the generation workspace depend on the shapes, not on the values, so they transfer;
the answers are noise. A random LoRA adapter (r=32, alpha=64, all-linear) is measured too.

    python benchmarks/medgemma_memory.py --work /tmp/mg4b [--batches 1 4 8] [--new-tokens 128]

Writes benchmarks/results/medgemma_memory.json (or --out).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import time
from pathlib import Path

from explainmyxray.core.plugin_api import LoadRequest
from explainmyxray.models.vision_language.medgemma import tiny
from explainmyxray.models.vision_language.medgemma.generation import (
    GenerationSettings,
    generate_batch,
    prepare_inputs,
    to_pil,
)
from explainmyxray.models.vision_language.medgemma.prompt import build_prompt
from explainmyxray.models.vision_language.medgemma.runner import MedGemmaRunner
from explainmyxray.models.vision_language.medgemma.spec import medgemma_4b_spec

RESULTS = Path(__file__).resolve().parent / "results" / "medgemma_memory.json"
GiB = 1024**3


def build_adapter(base: Path, out: Path) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Gemma3ForConditionalGeneration

    if (out / "adapter_config.json").is_file():
        return out
    model = Gemma3ForConditionalGeneration.from_pretrained(
        base, dtype=torch.bfloat16, device_map={"": "cuda"}
    )
    peft_model = get_peft_model(
        model, LoraConfig(r=32, lora_alpha=64, target_modules="all-linear", lora_dropout=0.0)
    )
    peft_model.save_pretrained(out)
    del model, peft_model
    gc.collect()
    torch.cuda.empty_cache()
    return out


def images(n: int):
    import numpy as np

    rng = np.random.default_rng(0)
    return [to_pil(rng.random((1024, 1024), dtype=np.float32)) for _ in range(n)]


def prompt_of(runner: MedGemmaRunner, text_tokens: int) -> str:
    """A prompt of about ``text_tokens`` tokens: the instruction plus filler context."""
    base = build_prompt()
    filler = " small left pleural effusion"
    while runner.count_tokens(base) < text_tokens:
        base += filler
    return base


def measure(runner: MedGemmaRunner, batch: int, text_tokens: int, new_tokens: int) -> dict:
    import torch

    prompts = [prompt_of(runner, text_tokens)] * batch
    pictures = images(batch)
    inputs = prepare_inputs(runner, pictures, prompts)
    settings = GenerationSettings(max_new_tokens=new_tokens)
    config = settings.to_transformers(runner.model)
    config.min_new_tokens = new_tokens  # random weights: make every run decode the full length
    torch.cuda.synchronize()
    base = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    with torch.inference_mode():
        output = runner.model.generate(**inputs, generation_config=config)
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    generated = output.shape[1] - inputs["input_ids"].shape[1]
    return {
        "batch": batch,
        "input_tokens": int(inputs["input_ids"].shape[1]),
        "new_tokens": int(generated),
        "workspace_bytes": int(torch.cuda.max_memory_allocated() - base),
        "seconds": round(seconds, 3),
        "tokens_per_s": round(batch * generated / seconds, 1),
    }


def run_precision(weights: Path, precision: str, adapter: Path | None, args) -> dict:
    import torch

    gc.collect()
    torch.cuda.empty_cache()
    before = torch.cuda.memory_allocated()
    runner = MedGemmaRunner(medgemma_4b_spec())
    start = time.perf_counter()
    settings = {"adapter": str(adapter)} if adapter else {}
    runner.load(LoadRequest("cuda", precision, weights, settings=settings))
    load_s = time.perf_counter() - start
    resident = torch.cuda.memory_allocated() - before
    result = {
        "precision": precision,
        "adapter": bool(adapter),
        "resident_bytes": int(resident),
        "resident_gib": round(resident / GiB, 3),
        "load_s": round(load_s, 2),
        "estimate_bytes": medgemma_4b_spec().memory_bytes[precision],
        "runs": [],
    }
    # The real path once, end to end, for a sanity check of shapes on GPU.
    texts = generate_batch(runner, images(2), [build_prompt()] * 2, GenerationSettings(8))
    result["generate_batch_ok"] = len(texts) == 2
    for batch in args.batches:
        result["runs"].append(measure(runner, batch, args.text_tokens, args.new_tokens))
        print(precision, "adapter" if adapter else "", result["runs"][-1], flush=True)
    runner.unload()
    gc.collect()
    result["after_unload_bytes"] = int(torch.cuda.memory_allocated() - before)
    return result


def main() -> int:
    import torch
    import transformers

    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, default=Path("/tmp/mg4b"))
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--text-tokens", type=int, default=1000)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--precisions", nargs="+", default=["bf16", "nf4"])
    parser.add_argument("--adapter", action="store_true", help="also nf4 + a random LoRA")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()

    weights = tiny.build_random_medgemma_4b(args.work / "model", "cuda")
    results = [run_precision(weights, p, None, args) for p in args.precisions]
    if args.adapter:
        adapter = build_adapter(weights, args.work / "adapter")
        results.append(run_precision(weights, "nf4", adapter, args))
    report = {
        "what": "MedGemma-4B-shaped random weights through MedGemmaRunner; greedy decoding",
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "python": platform.python_version(),
        "text_tokens": args.text_tokens,
        "image_tokens": tiny.MEDGEMMA_4B_IMAGE_TOKENS,
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
