"""Every registered model at its real size, each supported precision, loaded through its runner.

For each model the registry can build offline, the real-size architecture is saved with random
weights in the layout its runner loads (LiteMedSAM and MiniLM use their packaged real weights),
then for every precision of its ``ModelSpec.memory_bytes``: ``spec.factory()`` +
``runner.load(LoadRequest(...))``, the resident bytes (torch's allocator on CUDA, the process RSS
on CPU), one forward through the runner's public API, ``unload()`` and whether memory went back
to where it was. No memory cap is applied: this measures sizes.

    python benchmarks/gpu_models.py --device cuda
    python benchmarks/gpu_models.py --tiny --device cpu --work /tmp/gm --out /tmp/gm/r.json
    python benchmarks/gpu_models.py --report-from benchmarks/results/gpu_models.json

``--tiny`` builds the test-size models instead (a smoke test of the script on a CPU). Prints a
table and writes JSON (default benchmarks/results/gpu_models.json) after every measurement; a
model or precision that fails is recorded with its error and the run goes on.
``--update-registry-report`` prints the measured ``memory_bytes`` mapping of each model to paste
into its spec (source files are never edited).
"""

from __future__ import annotations

import argparse
import contextlib
import platform
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
MiB = 1024**2
REPORT = "Heart size is normal. No pleural effusion or pneumothorax."
PROMPT = "Describe the findings of this chest X-ray."
NEW_TOKENS = 2


@dataclass
class Built:
    """Where a model's weights are and the load settings its runner needs."""

    weights: Path | None
    settings: dict[str, Any] = field(default_factory=dict)


# --- builders ------------------------------------------------------------------------------


def build_medgemma(folder: Path, tiny: bool, device: str) -> Built:
    from explainmyxray.models.vision_language.medgemma.tiny import (
        build_random_medgemma_4b,
        build_tiny_medgemma,
    )

    if tiny:
        done = (folder / "config.json").is_file()
        return Built(folder if done else build_tiny_medgemma(folder))
    return Built(build_random_medgemma_4b(folder, device))


def build_paligemma(folder: Path, tiny: bool, device: str) -> Built:
    from explainmyxray.models.vision_language.paligemma.tiny import build_tiny_paligemma

    if (folder / "config.json").is_file():
        return Built(folder)
    if tiny:
        return Built(build_tiny_paligemma(folder))
    return Built(build_random_paligemma_3b(folder, device))


def build_random_paligemma_3b(out: Path, device: str) -> Path:
    """PaliGemma 2 3B 896 px (``real_config``) with random bf16 weights and an 896-px processor.

    The tokenizer is the tiny one; its ids fill the real vocabulary's first rows, and the image
    token is the tokenizer's ``<image>``.
    """
    import gc

    import torch
    from transformers import (
        GenerationConfig,
        PaliGemmaForConditionalGeneration,
        PaliGemmaProcessor,
        SiglipImageProcessor,
    )

    from explainmyxray.models.vision_language.paligemma.tiny import build_tokenizer, real_config

    side = 896
    image_processor = SiglipImageProcessor(
        size={"height": side, "width": side}, image_mean=[0.5] * 3, image_std=[0.5] * 3
    )
    image_processor.image_seq_length = (side // 14) ** 2
    processor = PaliGemmaProcessor(image_processor=image_processor, tokenizer=build_tokenizer())
    ids = processor.tokenizer.convert_tokens_to_ids
    special = dict(pad_token_id=ids("<pad>"), bos_token_id=ids("<bos>"), eos_token_id=ids("<eos>"))
    config = real_config()
    config.image_token_id = ids("<image>")
    for key, value in special.items():
        setattr(config, key, value)
        setattr(config.text_config, key, value)
    torch.manual_seed(0)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            model = PaliGemmaForConditionalGeneration(config).eval()
    finally:
        torch.set_default_dtype(previous)
    model.generation_config = GenerationConfig(**special)
    model.save_pretrained(out, safe_serialization=True)
    processor.save_pretrained(out)
    del model
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return out


def build_biomedclip(folder: Path, tiny: bool, device: str) -> Built:
    if tiny:
        from explainmyxray.models.biomedclip.tiny import build_tiny_biomedclip

        done = (folder / "open_clip_config.json").is_file()
        return Built(folder if done else build_tiny_biomedclip(folder))
    from retrieval_gpu import random_folder

    return Built(random_folder(folder))


def build_chexbert_model(folder: Path, tiny: bool, device: str) -> Built:
    from gpu_pipeline import TINY_BERT, build_chexbert

    checkpoint, tokenizer = folder / "chexbert.pth", folder / "bert-tokenizer"
    if not checkpoint.is_file():
        checkpoint, tokenizer = build_chexbert(folder, TINY_BERT if tiny else {})
    return Built(checkpoint, {"tokenizer": str(tokenizer)})


def build_medsam(folder: Path, tiny: bool, device: str) -> Built:
    from explainmyxray.models.sam.medsam.runner import CHECKPOINT_NAME

    path = folder / CHECKPOINT_NAME
    architecture = "tiny" if tiny else "vit_b"
    if not path.is_file():
        import torch

        from explainmyxray.models.sam.medsam.architecture import build_sam_network

        folder.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        torch.save(build_sam_network(architecture).state_dict(), path)
    return Built(path, {"architecture": architecture})


def packaged(folder: Path, tiny: bool, device: str) -> Built:
    """The runner finds the weights itself (packaged with the library)."""
    return Built(None)


BUILDERS: dict[str, Callable[[Path, bool, str], Built]] = {
    "medgemma-4b-it": build_medgemma,
    "paligemma2-3b-pt-896": build_paligemma,
    "biomedclip": build_biomedclip,
    "minilm-l6": packaged,
    "chexbert": build_chexbert_model,
    "medsam": build_medsam,
    "litemedsam": packaged,
    "radgraph": packaged,
    "radgraph-xl": packaged,
}


# --- one forward each ----------------------------------------------------------------------


def test_image(side: int = 1024) -> np.ndarray:
    """A smooth grey image with a bright blob: deterministic input for every forward."""
    y, x = np.mgrid[0:side, 0:side].astype(np.float32) / side
    return np.clip(0.3 + 0.5 * np.exp(-((x - 0.4) ** 2 + (y - 0.5) ** 2) / 0.05), 0, 1)


def forward_generate(runner: Any, module: str) -> str:
    from explainmyxray.models.vision_language.medgemma.generation import GenerationSettings, to_pil

    if module == "medgemma":
        from explainmyxray.models.vision_language.medgemma.generation import generate_batch
    else:
        from explainmyxray.models.vision_language.paligemma.generation import generate_batch
    settings = GenerationSettings(max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS)
    answers = generate_batch(runner, [to_pil(test_image())], [PROMPT], settings)
    return f"{len(answers)} answer, {NEW_TOKENS} new tokens"


def forward_biomedclip(runner: Any) -> str:
    images, texts = runner.embed_images([test_image()]), runner.embed_texts([REPORT])
    return f"image {images.shape}, text {texts.shape}"


def forward_minilm(runner: Any) -> str:
    return f"text {runner.embed_texts([REPORT]).shape}"


def forward_chexbert(runner: Any) -> str:
    return f"{len(runner.label([REPORT]))} labelled"


def forward_segmenter(runner: Any) -> str:
    from explainmyxray.core.case import Box

    pixels = test_image()
    embedding = runner.model.embed(pixels)
    masks = runner.model.segment(embedding, [Box(x0=200, y0=250, x1=600, y1=800)]).masks()
    return f"masks {masks.shape}"


def forward_radgraph(runner: Any) -> str:
    return f"{len(runner.annotate([REPORT]))} annotated"


FORWARDS: dict[str, Callable[[Any], str]] = {
    "medgemma-4b-it": lambda r: forward_generate(r, "medgemma"),
    "paligemma2-3b-pt-896": lambda r: forward_generate(r, "paligemma"),
    "biomedclip": forward_biomedclip,
    "minilm-l6": forward_minilm,
    "chexbert": forward_chexbert,
    "medsam": forward_segmenter,
    "litemedsam": forward_segmenter,
    "radgraph": forward_radgraph,
    "radgraph-xl": forward_radgraph,
}


# --- measuring -----------------------------------------------------------------------------


class Meter:
    """Resident bytes on one device: torch's allocator on CUDA, the process RSS on CPU."""

    def __init__(self, device: str) -> None:
        import torch

        self.torch = torch
        self.cuda = device.startswith("cuda")
        if self.cuda:
            torch.zeros(1, device=device)  # the CUDA context exists before the first baseline

    def sync(self) -> None:
        if self.cuda:
            self.torch.cuda.synchronize()

    def now(self) -> int:
        from explainmyxray.core.memory import process_rss
        from explainmyxray.models.host_memory import release_memory

        self.sync()
        release_memory("cuda" if self.cuda else "cpu")
        if self.cuda:
            return int(self.torch.cuda.memory_allocated())
        return int(process_rss() or 0)

    def reserved(self) -> int | None:
        return int(self.torch.cuda.memory_reserved()) if self.cuda else None

    def reset_peak(self) -> None:
        if self.cuda:
            self.torch.cuda.reset_peak_memory_stats()

    def peak(self) -> int | None:
        return int(self.torch.cuda.max_memory_allocated()) if self.cuda else None

    def tolerance(self, measured: int) -> int:
        """How far from the baseline an unload may leave memory and still count as returned."""
        floor = 8 * MiB if self.cuda else 64 * MiB
        return max(floor, int(0.05 * max(measured, 0)))


def measure(spec: Any, built: Built, precision: str, device: str, meter: Meter) -> dict[str, Any]:
    """Load, measure, run one forward, unload, check the baseline; one precision of one model."""
    from explainmyxray.core.plugin_api import LoadRequest

    row: dict[str, Any] = {"estimate": spec.estimate(precision)}
    runner = spec.factory()
    baseline = meter.now()
    try:
        start = time.perf_counter()
        runner.load(LoadRequest(device, precision, built.weights, built.settings))
        meter.sync()
        row["load_seconds"] = round(time.perf_counter() - start, 3)
        loaded = meter.now()
        row["measured"] = loaded - baseline
        row["ratio"] = round(row["measured"] / row["estimate"], 3) if row["estimate"] else None
        row["reserved"] = meter.reserved()
        meter.reset_peak()
        start = time.perf_counter()
        row["forward"] = FORWARDS[spec.name](runner)
        meter.sync()
        row["forward_seconds"] = round(time.perf_counter() - start, 3)
        peak = meter.peak()
        row["forward_peak_above_loaded"] = None if peak is None else peak - loaded
    except Exception as exc:  # recorded; the other precisions and models still run
        row["error"] = f"{type(exc).__name__}: {exc}"
        row["traceback"] = traceback.format_exc(limit=6)
    finally:
        runner.unload()
        del runner
    after = meter.now()
    row["after_unload_above_baseline"] = after - baseline
    row["back_to_baseline"] = abs(after - baseline) <= meter.tolerance(row.get("measured", 0))
    return row


def prepare_libraries(device: str) -> None:
    """Import what the runners import, so that the first load's RSS is the model's alone."""
    import importlib

    for name in (
        "torch",
        "transformers",
        "open_clip",
        "timm",
        "segment_anything",
        "bitsandbytes",
        "peft",
        "safetensors.torch",
    ):
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


def versions() -> dict[str, str]:
    from gpu_pipeline import versions as library_versions

    out = library_versions()
    out["machine"] = platform.machine()
    return out


def device_name(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return platform.processor() or platform.machine()


def run_model(
    name: str, spec: Any, args: argparse.Namespace, meter: Meter, result: dict, save: Callable
) -> None:
    entry: dict[str, Any] = {"precisions": {}}
    result["models"][name] = entry
    if name in ("radgraph", "radgraph-xl"):
        try:
            import radgraph  # noqa: F401
        except ImportError:
            entry["skipped"] = "the radgraph package is not importable (its runner needs it)"
            save()
            return
    try:
        start = time.perf_counter()
        built = BUILDERS[name](args.work / name, args.tiny, args.device)
        if built.weights is None and spec.locate is not None:
            built.weights = spec.locate()  # what the model manager does for packaged weights
        entry["build_seconds"] = round(time.perf_counter() - start, 1)
        entry["weights"] = str(built.weights) if built.weights else "packaged / located"
    except Exception as exc:
        entry["error"] = f"building: {type(exc).__name__}: {exc}"
        save()
        return
    for precision in spec.memory_bytes:
        row = measure(spec, built, precision, args.device, meter)
        entry["precisions"][precision] = row
        if name.startswith("radgraph") and "WeightsNotFound" in row.get("error", ""):
            entry["skipped"] = "no RadGraph weights on this machine (they cannot be built here)"
            entry["precisions"] = {}
            break
        save()
        print(line(name, precision, row), flush=True)
    save()


# --- output --------------------------------------------------------------------------------


def mib(n: int | None) -> str:
    return "-" if n is None else f"{n / MiB:,.1f}"


HEADER = (
    f"{'model':<22} {'prec':<5} {'estimate MiB':>13} {'measured MiB':>13} {'ratio':>6} "
    f"{'fwd s':>7} {'back':>5}"
)


def line(name: str, precision: str, row: dict[str, Any]) -> str:
    if "error" in row:
        return f"{name:<22} {precision:<5} {mib(row['estimate']):>13} ERROR {row['error'][:80]}"
    ratio = f"{row['ratio']:.2f}" if row.get("ratio") is not None else "-"
    back = "yes" if row["back_to_baseline"] else "NO"
    return (
        f"{name:<22} {precision:<5} {mib(row['estimate']):>13} {mib(row['measured']):>13} "
        f"{ratio:>6} {row['forward_seconds']:>7.3f} {back:>5}"
    )


def table(result: dict[str, Any]) -> str:
    lines = [HEADER]
    for name, entry in result["models"].items():
        if "skipped" in entry or ("error" in entry and not entry["precisions"]):
            lines.append(f"{name:<22} {entry.get('skipped') or entry.get('error')}")
        for precision, row in entry["precisions"].items():
            lines.append(line(name, precision, row))
    return "\n".join(lines)


def registry_report(result: dict[str, Any]) -> str:
    """Per model, the measured ``memory_bytes`` mapping in the spec's precision order."""
    where = f"measured on {result.get('device_name')} ({result.get('device')})"
    lines = [f"# memory_bytes {where}; tiny={result.get('tiny')}"]
    for name, entry in result["models"].items():
        sizes = {
            p: r["measured"] for p, r in entry.get("precisions", {}).items() if "measured" in r
        }
        if not sizes:
            lines.append(f"# {name}: nothing measured")
            continue
        body = ", ".join(f'"{p}": {n:_}' for p, n in sizes.items())
        lines.append(f"{name}: {{{body}}}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu")
    parser.add_argument("--work", type=Path, default=Path("/tmp/gpu_models"))
    parser.add_argument("--out", type=Path, default=HERE / "results" / "gpu_models.json")
    parser.add_argument("--models", default="", help="comma-separated names (default: all)")
    parser.add_argument("--tiny", action="store_true", help="the test-size models instead")
    parser.add_argument("--update-registry-report", action="store_true")
    parser.add_argument("--report-from", type=Path, help="print the report of a saved JSON only")
    args = parser.parse_args()

    import json

    if args.report_from:
        result = json.loads(args.report_from.read_text())
        print(table(result))
        print(registry_report(result))
        return 0

    from gpu_pipeline import save as save_json

    from explainmyxray.registry.plugins import PluginHost

    host = PluginHost()
    names = [s.strip() for s in args.models.split(",") if s.strip()] or [
        s.name for s in host.models
    ]
    unknown = [n for n in names if n not in host.models or n not in BUILDERS]
    if unknown:
        parser.error(f"unknown or unsupported models: {', '.join(unknown)}")
    prepare_libraries(args.device)
    meter = Meter(args.device)
    result: dict[str, Any] = {
        "device": args.device,
        "device_name": device_name(args.device),
        "tiny": args.tiny,
        "memory": "torch.cuda.memory_allocated delta"
        if meter.cuda
        else "process RSS delta (after gc + malloc_trim)",
        "versions": versions(),
        "models": {},
    }

    def save() -> None:
        save_json(result, args.out)

    print(HEADER, flush=True)
    for name in names:
        run_model(name, host.models.get(name), args, meter, result, save)
        entry = result["models"][name]
        if "skipped" in entry or "error" in entry:
            print(f"{name:<22} {entry.get('skipped') or entry.get('error')}", flush=True)
    save()
    print()
    print(table(result))
    print(f"\nwrote {args.out}")
    if args.update_registry_report:
        print(registry_report(result))
    failed = [
        f"{n}/{p}"
        for n, e in result["models"].items()
        for p, r in e["precisions"].items()
        if "error" in r
    ]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
