"""CPU memory and speed of the MedSAM runner on the real ViT-B architecture with random weights.

The weights are not downloaded here, so a SAM ViT-B network with random weights is saved as
``medsam_vit_b.pth`` and loaded through :class:`MedSAMRunner` like the real checkpoint. Resident
memory and the encoder's workspace depend on the shapes, not on the values, so they transfer.
Each precision runs in a fresh process: the growth of the process RSS across ``load`` is the
resident size; the peak RSS growth across one embed + two box prompts on a 2048x2048 image is the
workspace (``ru_maxrss``, so each process measures one precision only).

    python benchmarks/medsam_memory.py --work /tmp/medsam [--precisions fp32 fp16 bf16]

Writes benchmarks/results/medsam_memory.json (or --out).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "medsam_memory.json"
REPO = Path(__file__).resolve().parents[1]


def measure(checkpoint: Path, precision: str, threads: int, forward: bool = True) -> dict:
    """Runs in a child process: load, then one embedding and two prompts."""
    import gc
    import resource
    import time

    import numpy as np
    import torch

    from explainmyxray.core.case import Box
    from explainmyxray.core.memory import process_rss
    from explainmyxray.core.plugin_api import LoadRequest
    from explainmyxray.models.sam.medsam.runner import MedSAMRunner

    torch.set_num_threads(threads)
    import segment_anything  # noqa: F401  (imports are not the model's memory)

    gc.collect()
    before = process_rss()
    runner = MedSAMRunner()
    t = time.perf_counter()
    runner.load(LoadRequest(device="cpu", precision=precision, weights=checkpoint))
    load_s = time.perf_counter() - t
    loaded = process_rss()
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    embedding, embed_s, segment_s = None, None, None
    if forward:
        pixels = np.random.default_rng(0).random((2048, 2048), dtype=np.float32)
        t = time.perf_counter()
        embedding = runner.model.embed(pixels)
        embed_s = round(time.perf_counter() - t, 2)
        t = time.perf_counter()
        boxes = [Box(x0=200, y0=300, x1=900, y1=1700), Box(x0=1100, y1=1700, x1=1850, y0=300)]
        runner.model.segment(embedding, boxes)
        segment_s = round(time.perf_counter() - t, 2)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    net = runner.model.net
    tensor_bytes = sum(x.numel() * x.element_size() for x in [*net.parameters(), *net.buffers()])
    del embedding, net
    runner.unload()
    gc.collect()
    after = process_rss()
    return {
        "precision": precision,
        "parameters": sum(p.numel() for p in runner_parameters(checkpoint)),
        "tensor_bytes": tensor_bytes,
        "resident_bytes": loaded - before,
        "workspace_peak_bytes": max(0, peak - max(peak_before, loaded)) if forward else None,
        "freed_bytes": loaded - after,
        "load_s": round(load_s, 2),
        "embed_s": embed_s,
        "segment_2_boxes_s": segment_s,
        "threads": threads,
    }


def runner_parameters(checkpoint: Path) -> list:
    import torch

    return list(torch.load(checkpoint, map_location="cpu", weights_only=True).values())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--precisions", nargs="+", default=["fp32", "fp16", "bf16"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", nargs=2, metavar=("CHECKPOINT", "PRECISION"))
    parser.add_argument(
        "--forward",
        nargs="*",
        default=["fp32"],
        help="precisions that also encode an image (fp16 matmuls are very slow on CPU)",
    )
    args = parser.parse_args()
    if args.child:
        precision = args.child[1]
        result = measure(Path(args.child[0]), precision, args.threads, precision in args.forward)
        print(json.dumps(result))
        return
    import torch

    from explainmyxray.models.sam.medsam.architecture import build_sam_network

    checkpoint = args.work / "medsam_vit_b.pth"
    if not checkpoint.is_file():
        args.work.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(0)
        torch.save(build_sam_network("vit_b").state_dict(), checkpoint)
    runs = []
    for precision in args.precisions:
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--work",
                str(args.work),
                "--threads",
                str(args.threads),
                "--child",
                str(checkpoint),
                precision,
                "--forward",
                *args.forward,
            ],
            check=True,
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(runs[-1], flush=True)
    result = {
        "machine": platform.platform(),
        "cpus": __import__("os").cpu_count(),
        "torch": torch.__version__,
        "note": "random ViT-B weights; RSS growth on CPU; each precision in a fresh process",
        "runs": runs,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
