"""Training speed and peak GPU memory of the v2 QLoRA recipe on a MedGemma-4B-shaped model.

The gated weights cannot be fetched, so this builds the MedGemma-4B architecture (Gemma 3 text,
2560 wide, 34 layers, 262,208-token vocabulary; SigLIP 1152 wide, 27 layers, 896 px; 256 image
tokens) with random weights, saves it as safetensors, and trains it with ``explainmyxray train``'s
own code (:func:`explainmyxray.training.train.train`, the shipped v2 config: NF4 base, LoRA r=32
on the language model, paged 8-bit AdamW, bf16, gradient checkpointing) on real PadChest label
rows with placeholder 1024 x 1024 images, under a per-process GPU memory cap (12 GiB by default,
``torch.cuda.set_per_process_memory_fraction``). Speed and memory depend on the shapes, not on the
weights' values. The tokenizer is the tiny test tokenizer, so the text token counts differ a
little from the real tokenizer's; the mean tokens per example are reported.

    python benchmarks/train_gpu.py [--work /tmp/train_gpu] [--batches 1 2 4] [--steps 8]
    python benchmarks/train_gpu.py --tiny     # CPU smoke run of the same path on a tiny model

Prints a table and writes benchmarks/results/train_gpu.json (or --out).
"""

from __future__ import annotations

import argparse
import csv
import gc
import gzip
import importlib.util
import json
import platform
import shutil
import time
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "train_gpu.json"
V2_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "training" / "medgemma-qlora-v2.yaml"
PADCHEST = "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv.gz"
GiB = 1024**3


def build_data(work: Path, n_examples: int, image_size: int):
    """Real PadChest label rows (frontal) with random placeholder images, as training data."""
    import numpy as np
    from PIL import Image

    from explainmyxray.training.dataset import DataOptions, read_padchest_examples

    spec = importlib.util.find_spec("torchxrayvision")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("torchxrayvision is needed: it ships the PadChest label table")
    source = Path(next(iter(spec.submodule_search_locations))) / "data" / PADCHEST
    table, images = work / "padchest.csv", work / "images"
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    with gzip.open(source, "rt", newline="", encoding="utf-8") as src:
        reader = csv.DictReader(src)
        rows = []
        for row in reader:
            if row["Projection"] == "PA" and "exclude" not in row["Labels"]:
                rows.append(row)
            if len(rows) == n_examples:
                break
        header = list(reader.fieldnames or [])
    with table.open("w", newline="", encoding="utf-8") as dst:
        writer = csv.DictWriter(dst, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        path = images / row["ImageID"]
        if not path.is_file():
            pixels = rng.integers(0, 256, (image_size, image_size), dtype=np.uint8)
            Image.fromarray(pixels, mode="L").save(path)
    options = DataOptions(validation_fraction=0.0, test_fraction=0.0)
    return read_padchest_examples(table, images, options)


def timing_callback(warmup: int):
    """A TrainerCallback timing optimizer steps after ``warmup`` and tracking peak memory."""
    import torch
    from transformers import TrainerCallback

    cuda = torch.cuda.is_available()

    class Timer(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self.resident = None
            self.tokens = 0

        def on_train_begin(self, args, state, control, **kwargs):
            if cuda:
                torch.cuda.synchronize()
                self.resident = torch.cuda.memory_allocated()
                torch.cuda.reset_peak_memory_stats()
            return control

        def on_step_end(self, args, state, control, **kwargs):
            if cuda:
                torch.cuda.synchronize()
            self.times.append(time.perf_counter())
            return control

        def seconds_per_step(self) -> float | None:
            timed = self.times[warmup:]
            if len(timed) < 2:
                return None
            return (timed[-1] - timed[0]) / (len(timed) - 1)

    return Timer()


def run_one(args, base: Path, data, batch: int, work: Path) -> dict[str, Any]:
    import torch

    from explainmyxray.training.config import load_config
    from explainmyxray.training.train import train

    config = load_config(V2_CONFIG)
    training = config.training.model_copy(
        update={
            "max_steps": args.warmup + args.steps,
            "per_device_batch_size": batch,
            "gradient_accumulation_steps": args.grad_accum
            or config.training.gradient_accumulation_steps,
            "logging_steps": 1,
            "save_steps": 10**6,
            "warmup": 0.1,
            "dataloader_workers": args.workers,
        }
    )
    update: dict[str, Any] = {
        "base_model": base,
        "training": training,
        "evaluation": config.evaluation.model_copy(
            update={"loss_examples": 0, "generate_examples": 0}
        ),
    }
    if args.tiny:
        update.update(quantization="none", precision="fp32", fallback="error")
        update["training"] = training.model_copy(update={"optim": "adamw_torch"})
    config = config.model_copy(update=update)
    timer = timing_callback(args.warmup)
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    row: dict[str, Any] = {
        "batch": batch,
        "grad_accum": config.training.gradient_accumulation_steps,
        "steps": args.steps,
        "warmup_steps": args.warmup,
    }
    out = work / f"run-b{batch}"
    shutil.rmtree(out, ignore_errors=True)  # train() refuses a folder with old checkpoints
    start = time.perf_counter()
    try:
        result = train(config, data, out, device=args.device, callbacks=[timer])
    except torch.cuda.OutOfMemoryError as exc:
        row.update(ok=False, error=f"out of memory: {str(exc).splitlines()[0]}")
        return row
    finally:
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    per_step = timer.seconds_per_step()
    examples_per_step = batch * config.training.gradient_accumulation_steps
    row.update(
        ok=True,
        wall_s=round(time.perf_counter() - start, 1),
        seconds_per_step=None if per_step is None else round(per_step, 3),
        steps_per_s=None if not per_step else round(1 / per_step, 4),
        examples_per_s=None if not per_step else round(examples_per_step / per_step, 3),
        first_loss=result.first_loss,
        last_loss=result.last_loss,
        fallbacks=result.runtime["fallbacks"],
        trainable_parameters=result.runtime["trainable_parameters"],
    )
    if torch.cuda.is_available():
        free, total = torch.cuda.mem_get_info()
        row.update(
            model_resident_gib=round((timer.resident or 0) / GiB, 3),
            peak_allocated_gib=round(torch.cuda.max_memory_allocated() / GiB, 3),
            peak_reserved_gib=round(torch.cuda.max_memory_reserved() / GiB, 3),
            device_used_after_gib=round((total - free) / GiB, 3),
        )
    return row


def mean_tokens(base: Path, data) -> float:
    from transformers import AutoProcessor

    from explainmyxray.training.collator import ReportCollator, load_image

    processor = AutoProcessor.from_pretrained(base)
    collator = ReportCollator(processor, max_length=1 << 16)
    sample = data.examples[:8]
    lengths = [len(collator.encode(load_image(e.image), e.report)["input_ids"]) for e in sample]
    return round(sum(lengths) / len(lengths), 1)


def print_table(report: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    cap = report["memory_cap_gib"]
    table = Table(title=f"v2 QLoRA training on {report['device']} (memory cap {cap} GiB)")
    columns = ("batch", "accum", "s/step", "steps/s", "examples/s", "peak alloc GiB")
    columns += ("peak reserved GiB", "loss first→last", "status")
    for column in columns:
        table.add_column(column)
    for r in report["runs"]:
        table.add_row(
            str(r["batch"]),
            str(r["grad_accum"]),
            str(r.get("seconds_per_step", "—")),
            str(r.get("steps_per_s", "—")),
            str(r.get("examples_per_s", "—")),
            str(r.get("peak_allocated_gib", "—")),
            str(r.get("peak_reserved_gib", "—")),
            f"{r['first_loss']:.3f}→{r['last_loss']:.3f}" if r.get("ok") else "—",
            "ok" if r.get("ok") else r.get("error", "failed"),
        )
    Console().print(table)


def main() -> int:
    import torch
    import transformers

    from explainmyxray.training.card import library_versions

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/train_gpu"))
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--steps", type=int, default=8, help="timed optimizer steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed first steps")
    parser.add_argument("--grad-accum", type=int, help="default: the v2 config's")
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--cap-gib", type=float, default=12.0, help="GPU memory cap per process")
    parser.add_argument("--workers", type=int, default=2, help="data loader workers")
    parser.add_argument("--device", default=None)
    parser.add_argument("--tiny", action="store_true", help="tiny model on CPU (smoke test)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if not args.tiny and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run with --tiny for the CPU smoke test")
    args.work.mkdir(parents=True, exist_ok=True)

    if args.tiny:
        from explainmyxray.models.medgemma.tiny import build_tiny_medgemma

        base = args.work / "tiny"
        if not (base / "config.json").is_file():
            build_tiny_medgemma(base)
        data = build_data(args.work / "data-tiny", args.examples, image_size=64)
        args.device = args.device or "cpu"
    else:
        from explainmyxray.models.medgemma.tiny import build_random_medgemma_4b

        base = build_random_medgemma_4b(args.work / "medgemma-4b-random", "cuda")
        data = build_data(args.work / "data", args.examples, image_size=1024)
    cap = None
    if torch.cuda.is_available() and not args.tiny:
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, args.cap_gib * GiB / total))
        cap = args.cap_gib
    runs = [run_one(args, base, data, batch, args.work) for batch in args.batches]
    report = {
        "what": (
            "explainmyxray train (v2 config) on a MedGemma-4B-shaped model with random weights"
            if not args.tiny
            else "CPU smoke run of the same path on the tiny test model"
        ),
        "device": torch.cuda.get_device_name(0)
        if torch.cuda.is_available() and not args.tiny
        else platform.processor() or platform.machine(),
        "memory_cap_gib": cap,
        "mean_tokens_per_example": mean_tokens(base, data),
        "examples": len(data.examples),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "versions": library_versions(),
        "runs": runs,
    }
    out = args.out or (RESULTS if not args.tiny else args.work / "train_gpu_tiny.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print_table(report)
    print(f"written: {out}")
    return 0 if all(r.get("ok") for r in runs) else 1


if __name__ == "__main__":
    raise SystemExit(main())
