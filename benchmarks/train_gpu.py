"""Training speed and peak GPU memory of the v2 QLoRA recipe on a MedGemma-4B-shaped model.

The gated weights cannot be fetched, so this builds the MedGemma-4B architecture (Gemma 3 text,
2560 wide, 34 layers, 262,208-token vocabulary; SigLIP 1152 wide, 27 layers, 896 px; 256 image
tokens) with random weights, saves it as safetensors, and trains it with ``explainmyxray train``'s
own code (:func:`explainmyxray.training.train.train`, the shipped v2 config: NF4 base, LoRA r=32
on the language model, paged 8-bit AdamW, bf16, gradient checkpointing) on real PadChest label
rows with placeholder 1024 x 1024 images, under a per-process GPU memory cap (12 GiB by default,
``torch.cuda.set_per_process_memory_fraction``, applied after the random checkpoint is built).
Speed and memory depend on the shapes, not on the weights' values. The tokenizer is the tiny test
tokenizer, so the text token counts differ a little from the real tokenizer's; the mean tokens
per example are reported.

    python benchmarks/train_gpu.py [--work /tmp/train_gpu] [--batches 4 2 1] [--steps 6]
        [--labels padchest_labels.csv.gz] [--budget-s 420] [--out FILE]
    python benchmarks/train_gpu.py --tiny     # CPU smoke run of the same path on a tiny model
    python benchmarks/train_gpu.py --export-labels FILE [--examples 400]   # the --labels extract

The PadChest label rows come from torchxrayvision's table, or from ``--labels`` (a CSV, gzipped or
not, with the PadChest columns; ``--export-labels`` writes one) where torchxrayvision is missing.
Batch sizes run in the order given; the JSON is rewritten after each (``"complete": false`` until
the last), so a run stopped by a time limit keeps what it measured. A batch size whose predicted
time would end past ``--budget-s`` seconds from the start is skipped and recorded as such.
``benchmarks/prepare_train_gpu.py`` prepares the wheels and the label extract for a GPU machine.

Prints progress, a table, and writes benchmarks/results/train_gpu.json (or --out).
"""

from __future__ import annotations

import argparse
import csv
import gc
import gzip
import importlib.util
import io
import json
import platform
import shutil
import time
import traceback
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results" / "train_gpu.json"
V2_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "training" / "medgemma-qlora-v2.yaml"
PADCHEST = "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv.gz"
EXTRACT_COLUMNS = (
    "ImageID",
    "ImageDir",
    "PatientID",
    "Projection",
    "MethodLabel",
    "Labels",
    "LabelsLocalizationsBySentence",
)
GiB = 1024**3
START = time.perf_counter()


def say(message: str) -> None:
    """A progress line with the seconds since the start (flushed: a killed run still shows it)."""
    print(f"[{time.perf_counter() - START:7.1f} s] {message}", flush=True)


def padchest_table(labels: Path | None) -> Path:
    """``labels`` if given, else torchxrayvision's PadChest label table."""
    if labels is not None:
        if not labels.is_file():
            raise SystemExit(f"--labels {labels}: no such file")
        return labels
    spec = importlib.util.find_spec("torchxrayvision")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(
            "torchxrayvision is needed for the PadChest label table; or pass --labels FILE "
            "(written by --export-labels on a machine that has torchxrayvision)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / PADCHEST


def open_table(path: Path):
    """A CSV opened as text, gunzipped when its name ends in .gz."""
    if path.suffix == ".gz":
        return gzip.open(path, "rt", newline="", encoding="utf-8")
    return path.open(newline="", encoding="utf-8")


def pa_rows(source: Path, n_rows: int) -> tuple[list[dict[str, str]], list[str]]:
    """The first ``n_rows`` PA rows not marked ``exclude``, and the table's columns."""
    with open_table(source) as src:
        reader = csv.DictReader(src)
        rows = []
        for row in reader:
            if row["Projection"] == "PA" and "exclude" not in row["Labels"]:
                rows.append(row)
            if len(rows) == n_rows:
                break
        return rows, list(reader.fieldnames or [])


def export_labels(dest: Path, n_rows: int, labels: Path | None = None) -> int:
    """Write the first ``n_rows`` PA rows (the columns the dataset builder reads) as a gzip CSV
    for ``--labels``; returns how many rows were written."""
    rows, header = pa_rows(padchest_table(labels), n_rows)
    absent = [c for c in EXTRACT_COLUMNS if c not in header]
    if absent:
        raise SystemExit(f"the PadChest table lacks the columns {absent}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    # mtime=0: the same rows give the same bytes
    with (
        dest.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as zipped,
        io.TextIOWrapper(zipped, encoding="utf-8", newline="") as text,
    ):
        writer = csv.DictWriter(text, fieldnames=EXTRACT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return len(rows)


def build_data(work: Path, n_examples: int, image_size: int, labels: Path | None = None):
    """Real PadChest label rows (PA) with random placeholder images, as training data."""
    import numpy as np
    from PIL import Image

    from explainmyxray.training.dataset import DataOptions, read_padchest_examples

    source = padchest_table(labels)
    table, images = work / "padchest.csv", work / "images"
    images.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows, header = pa_rows(source, n_examples)
    if len(rows) < n_examples:
        say(f"{source} holds {len(rows)} usable PA rows; --examples asked for {n_examples}")
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


def timing_callback(warmup: int, label: str, budget_s: float | None = None):
    """A TrainerCallback timing optimizer steps after ``warmup``, tracking peak memory and
    printing each step; past ``budget_s`` seconds from the start it stops the training once
    two steps after the warm-up are timed."""
    import torch
    from transformers import TrainerCallback

    cuda = torch.cuda.is_available()

    class Timer(TrainerCallback):
        def __init__(self) -> None:
            self.times: list[float] = []
            self.began: float | None = None
            self.stopped_early = False
            self.resident = None
            self.tokens = 0

        def on_train_begin(self, args, state, control, **kwargs):
            self.began = time.perf_counter()
            if cuda:
                torch.cuda.synchronize()
                self.resident = torch.cuda.memory_allocated()
                torch.cuda.reset_peak_memory_stats()
            return control

        def on_step_end(self, args, state, control, **kwargs):
            if cuda:
                torch.cuda.synchronize()
            self.times.append(time.perf_counter())
            over = budget_s is not None and self.times[-1] - START > budget_s
            if over and len(self.timed()) >= 3 and state.global_step < state.max_steps:
                say(f"{label}: past --budget-s, stopping after step {state.global_step}")
                self.stopped_early = True
                control.should_training_stop = True
            return control

        def on_log(self, args, state, control, logs=None, **kwargs):
            if not logs or "loss" not in logs:
                return control
            parts = [f"{label} step {state.global_step}/{state.max_steps}"]
            if len(self.times) >= 2:
                parts.append(f"{self.times[-1] - self.times[-2]:.2f} s")
            if cuda:
                parts.append(f"peak {torch.cuda.max_memory_allocated() / GiB:.2f} GiB")
            parts.append(f"loss {logs['loss']:.3f}")
            say(", ".join(parts))
            return control

        def timed(self) -> list[float]:
            """The end of the last warm-up step (or the start), then the end of each later step."""
            marks = ([self.began] if self.began is not None else []) + self.times
            return marks[warmup:]

        def seconds_per_step(self) -> float | None:
            timed = self.timed()
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
    budget = None if args.tiny else args.budget_s
    timer = timing_callback(args.warmup, f"batch {batch}", budget)
    gc.collect()
    row: dict[str, Any] = {
        "batch": batch,
        "grad_accum": config.training.gradient_accumulation_steps,
        "steps": args.steps,
        "warmup_steps": args.warmup,
    }
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        # anything left from an earlier batch size shows here
        row["allocated_before_load_gib"] = round(torch.cuda.memory_allocated() / GiB, 3)
    out = work / f"run-b{batch}"
    shutil.rmtree(out, ignore_errors=True)  # train() refuses a folder with old checkpoints
    say(f"batch {batch}: training {args.warmup} + {args.steps} steps")
    start = time.perf_counter()
    try:
        result = train(config, data, out, device=args.device, callbacks=[timer])
    except torch.cuda.OutOfMemoryError as exc:
        row.update(ok=False, error=f"out of memory: {str(exc).splitlines()[0]}")
    except Exception as exc:  # recorded, so the other batch sizes still run
        traceback.print_exc()
        row.update(ok=False, error=f"{type(exc).__name__}: {exc}")
    finally:
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    row["wall_s"] = round(time.perf_counter() - start, 1)
    if timer.began is not None:
        row["setup_s"] = round(timer.began - start, 1)
    if not row.get("ok", True):
        say(f"batch {batch}: {row['error']}")
        return row
    per_step = timer.seconds_per_step()
    row["timed_steps"] = max(0, len(timer.timed()) - 1)
    row["stopped_early"] = timer.stopped_early
    examples_per_step = batch * config.training.gradient_accumulation_steps
    row.update(
        ok=True,
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
    say(f"batch {batch}: {row['seconds_per_step']} s/step, {row['examples_per_s']} examples/s")
    return row


def predicted_seconds(previous: dict[str, Any], batch: int, n_steps: int) -> float | None:
    """How long a run at ``batch`` should take, from a finished run at another batch size:
    the same set-up time, and step time in proportion to the examples per step."""
    if not previous.get("ok") or not previous.get("seconds_per_step"):
        return None
    setup = previous.get("setup_s", 0.0)
    return setup + n_steps * previous["seconds_per_step"] * batch / previous["batch"]


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
            str(r.get("grad_accum", "—")),
            str(r.get("seconds_per_step", "—")),
            str(r.get("steps_per_s", "—")),
            str(r.get("examples_per_s", "—")),
            str(r.get("peak_allocated_gib", "—")),
            str(r.get("peak_reserved_gib", "—")),
            f"{r['first_loss']:.3f}→{r['last_loss']:.3f}" if r.get("ok") else "—",
            "ok" if r.get("ok") else r.get("error", "failed"),
        )
    Console().print(table)


def preflight(need_bitsandbytes: bool) -> None:
    """Import what training needs before anything slow is built; name what is missing."""
    import importlib

    names = ["trl", "datasets", "pyarrow", "peft", "accelerate"]
    names += ["bitsandbytes"] if need_bitsandbytes else []
    found, missing = [], []
    for name in names:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            missing.append(f"{name} ({exc})")
        else:
            found.append(f"{name} {getattr(module, '__version__', '?')}")
    if missing:
        raise SystemExit("training needs: " + "; ".join(missing))
    say(", ".join(found))


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/train_gpu"))
    parser.add_argument(
        "--batches",
        type=int,
        nargs="+",
        default=[4, 2, 1],
        help="per-device batch sizes, run in this order (default: the v2 config's 4 first)",
    )
    parser.add_argument("--steps", type=int, default=6, help="timed optimizer steps")
    parser.add_argument("--warmup", type=int, default=2, help="untimed first steps")
    parser.add_argument("--grad-accum", type=int, help="default: the v2 config's")
    parser.add_argument("--examples", type=int, default=64)
    parser.add_argument("--labels", type=Path, help="PadChest label CSV(.gz) (--export-labels)")
    parser.add_argument(
        "--export-labels",
        type=Path,
        metavar="FILE",
        help="write the first --examples PA rows of the label table to FILE (gzip CSV) and stop",
    )
    parser.add_argument("--cap-gib", type=float, default=12.0, help="GPU memory cap per process")
    parser.add_argument(
        "--budget-s",
        type=float,
        default=420.0,
        help="skip a batch size predicted to end later than this many seconds after the start",
    )
    parser.add_argument("--workers", type=int, default=2, help="data loader workers")
    parser.add_argument("--device", default=None)
    parser.add_argument("--tiny", action="store_true", help="tiny model on CPU (smoke test)")
    parser.add_argument("--out", type=Path, default=None)
    return parser.parse_args()


def main() -> int:
    args = parse_args()
    if args.export_labels is not None:
        kept = export_labels(args.export_labels, args.examples, args.labels)
        say(f"{args.export_labels}: {kept} PA rows")
        return 0

    import torch
    import transformers

    from explainmyxray.training.card import library_versions

    if not args.tiny and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run with --tiny for the CPU smoke test")
    preflight(need_bitsandbytes=not args.tiny)
    args.work.mkdir(parents=True, exist_ok=True)
    out = args.out or (RESULTS if not args.tiny else args.work / "train_gpu_tiny.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    say(f"torch {torch.__version__}, transformers {transformers.__version__}; results to {out}")

    if args.tiny:
        from explainmyxray.models.vision_language.medgemma.tiny import build_tiny_medgemma

        base = args.work / "tiny"
        if not (base / "config.json").is_file():
            build_tiny_medgemma(base)
        data = build_data(args.work / "data-tiny", args.examples, 64, args.labels)
        args.device = args.device or "cpu"
    else:
        from explainmyxray.models.vision_language.medgemma.tiny import build_random_medgemma_4b

        say("building the MedGemma-4B-shaped checkpoint (random bf16 weights)")
        base = build_random_medgemma_4b(args.work / "medgemma-4b-random", "cuda")
        say("placeholder images and PadChest rows")
        data = build_data(args.work / "data", args.examples, 1024, args.labels)
    say(f"{len(data.examples)} training examples")
    cap = None
    if torch.cuda.is_available() and not args.tiny:
        # the cap starts only now: building the bf16 checkpoint above needs about 9 GiB at once
        torch.cuda.empty_cache()
        total = torch.cuda.get_device_properties(0).total_memory
        torch.cuda.set_per_process_memory_fraction(min(1.0, args.cap_gib * GiB / total))
        cap = args.cap_gib
    report: dict[str, Any] = {
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
        "labels": str(padchest_table(args.labels)),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "versions": library_versions(),
        "budget_s": args.budget_s,
        "complete": False,
        "runs": [],
    }
    write_report(out, report)
    n_steps = args.warmup + args.steps
    for batch in args.batches:
        finished = [r for r in report["runs"] if r.get("ok")]
        guess = predicted_seconds(finished[-1], batch, n_steps) if finished else None
        elapsed = time.perf_counter() - START
        if guess is not None and elapsed + guess > args.budget_s:
            say(f"batch {batch}: skipped, about {guess:.0f} s more would pass --budget-s")
            report["runs"].append(
                {
                    "batch": batch,
                    "ok": False,
                    "error": f"skipped: predicted {guess:.0f} s after {elapsed:.0f} s "
                    f"exceeds --budget-s {args.budget_s:.0f}",
                }
            )
        else:
            report["runs"].append(run_one(args, base, data, batch, args.work))
        write_report(out, report)
    report["complete"] = True
    report["total_s"] = round(time.perf_counter() - START, 1)
    write_report(out, report)
    print_table(report)
    say(f"written: {out}")
    return 0 if all(r.get("ok") for r in report["runs"]) else 1


def write_report(out: Path, report: dict[str, Any]) -> None:
    """Rewrite the results file whole (a temporary file renamed over it)."""
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2) + "\n")
    tmp.replace(out)


if __name__ == "__main__":
    raise SystemExit(main())
