"""Lung-mask Dice of the offline localizer on JSRT images with manual masks, and its speed.

    python benchmarks/lung_dice.py [--data ../shared/data] [--repeats 3] [--threads 1 2]

The four JSRT-derived images in ``segmentation/jsrt`` come with manual masks of both lungs in one
binary PNG (255 = lung); the two lungs are its two largest components, told apart by their
centroids (the patient's right lung is on the image's left). Dice is reported for both lungs
together and for each lung. Speed is the whole localize step per image (lung boxes, one
LiteMedSAM encoding, five prompts, 26 regions), on the JSRT images and on the other real CXRs in
``cxr/``, as the median and the best of ``--repeats`` runs, for each torch thread count given.
The machine may be shared with other work: the load average is recorded with each timing, and on
a busy 2-core machine one thread is steadier than two (two threads spin while waiting for a core).

Prints a table and writes benchmarks/results/lung_dice.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

TARGET_DICE = 0.92
TARGET_SECONDS = 3.0


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum()) + int(b.sum())
    return 2.0 * int((a & b).sum()) / total if total else 1.0


def split_lungs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(image-left lung, image-right lung) of a two-lung mask: its two largest components."""
    from scipy import ndimage as ndi

    labels, n = ndi.label(mask)
    sizes = np.bincount(labels.ravel())[1:]
    biggest = np.argsort(sizes)[::-1][:2] + 1
    parts = sorted((labels == i for i in biggest), key=lambda m: np.nonzero(m)[1].mean())
    if n < 2:
        raise ValueError("the reference mask does not hold two lungs")
    return parts[0], parts[1]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, os.cpu_count() or 1])
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks/results/lung_dice.json")
    args = parser.parse_args()

    import torch
    from PIL import Image

    from explainmyxray.anatomy.segment import segment_anatomy
    from explainmyxray.imaging import read_xray
    from explainmyxray.models.sam.litemedsam.network import LiteMedSAM

    start = time.perf_counter()
    model = LiteMedSAM.load()
    load_seconds = time.perf_counter() - start

    jsrt = sorted((args.data / "segmentation" / "jsrt").glob("[0-9]*.jpg"))
    if not jsrt:
        print(f"no JSRT images under {args.data}/segmentation/jsrt", file=sys.stderr)
        return 2
    images = {f"jsrt/{p.name}": read_xray(p)[0] for p in jsrt}
    images.update({f"cxr/{p.name}": read_xray(p)[0] for p in sorted((args.data / "cxr").glob("*"))})

    rows = []
    for path in jsrt:
        image = images[f"jsrt/{path.name}"]
        truth = np.asarray(Image.open(path.with_name(f"{path.stem}-mask.png")).convert("L")) > 127
        truth_right, truth_left = split_lungs(truth)
        result = segment_anatomy(model, image.pixels)
        rows.append(
            {
                "image": f"jsrt/{path.name}",
                "size": [image.width, image.height],
                "dice_lungs": dice(result.right_lung | result.left_lung, truth),
                "dice_right_lung": dice(result.right_lung, truth_right),
                "dice_left_lung": dice(result.left_lung, truth_left),
                "lung_box_sources": result.lung_box_sources,
            }
        )
    keys = ("dice_lungs", "dice_right_lung", "dice_left_lung")
    mean = {k: statistics.fmean(r[k] for r in rows) for k in keys}

    timings = []
    for threads in dict.fromkeys(args.threads):
        torch.set_num_threads(threads)
        segment_anatomy(model, images[f"jsrt/{jsrt[0].name}"].pixels)  # warm-up
        per_image = {}
        for name, image in images.items():
            times = []
            for _ in range(args.repeats):
                t = time.perf_counter()
                segment_anatomy(model, image.pixels)
                times.append(time.perf_counter() - t)
            per_image[name] = {"median": statistics.median(times), "best": min(times)}
        medians = [v["median"] for v in per_image.values()]
        timings.append(
            {
                "torch_threads": threads,
                "seconds_per_image_median": statistics.median(medians),
                "seconds_per_image_max": max(medians),
                "seconds_per_image_best": statistics.median(v["best"] for v in per_image.values()),
                "load_average_1min_after": os.getloadavg()[0],
                "per_image": per_image,
            }
        )

    print(f"{'image':38s} {'size':>11s} {'Dice':>7s} {'right':>7s} {'left':>7s}", end="")
    print("".join(" " + f"s/img@{t['torch_threads']}".rjust(9) for t in timings))
    by_name = {r["image"]: r for r in rows}
    for name, image in images.items():
        r = by_name.get(name)
        cells = (
            f"{r['dice_lungs']:7.4f} {r['dice_right_lung']:7.4f} {r['dice_left_lung']:7.4f}"
            if r
            else " " * 23
        )
        secs = "".join(f" {t['per_image'][name]['median']:9.2f}" for t in timings)
        print(f"{name:38s} {f'{image.width}x{image.height}':>11s} {cells}{secs}")
    print(
        f"{'mean (JSRT)':38s} {'':11s} {mean['dice_lungs']:7.4f} {mean['dice_right_lung']:7.4f} "
        f"{mean['dice_left_lung']:7.4f}"
    )
    for t in timings:
        print(
            f"{t['torch_threads']} torch thread(s): median {t['seconds_per_image_median']:.2f} "
            f"s/image, max {t['seconds_per_image_max']:.2f}, best-of-{args.repeats} median "
            f"{t['seconds_per_image_best']:.2f}; load average {t['load_average_1min_after']:.2f} "
            f"on {os.cpu_count()} CPUs"
        )

    out = {
        "benchmark": "lung_dice",
        "target_dice": TARGET_DICE,
        "target_seconds_per_image": TARGET_SECONDS,
        "mean": mean,
        "images": rows,
        "timings": timings,
        "model_load_seconds": load_seconds,
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0 if mean["dice_lungs"] >= TARGET_DICE else 1


if __name__ == "__main__":
    raise SystemExit(main())
