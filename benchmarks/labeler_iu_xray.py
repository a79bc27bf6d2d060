"""The rule-based labeler against IU X-ray MeSH labels: per-label and micro/macro P, R, F1.

    python benchmarks/labeler_iu_xray.py                 # development split (ids < 2000)
    python benchmarks/labeler_iu_xray.py --split held-out  # ids >= 2000, run once at the end

Reads torchxrayvision's NLMCXR_reports.tgz (or ``--archive``), labels FINDINGS + IMPRESSION of
every indexed report, maps the MeSH major terms onto the evaluation labels of
``explainmyxray/datasets/data/iu_mesh_to_padchest.yaml`` and counts, per report and label,
reference present/not present against labeler present/not present. An uncertain reading counts
as not present (``--uncertain-as-present`` flips that). Prints a table and writes (merging with
the other split's entry) ``benchmarks/results/labeler_iu_xray.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explainmyxray.datasets.iu_xray import (  # noqa: E402
    HELD_OUT_FROM,
    load_mapping,
    read_reports,
    split_reports,
)
from explainmyxray.labeler.evaluation import Evaluation, evaluate  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "labeler_iu_xray.json"
SPLITS = {"dev": "ids < 2000", "held-out": "ids >= 2000", "all": "every report"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", choices=sorted(SPLITS), default="dev")
    parser.add_argument("--archive", type=Path, default=None, help="NLMCXR_reports.tgz")
    parser.add_argument("--uncertain-as-present", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    reports = read_reports(args.archive)
    dev, held_out = split_reports(reports)
    chosen = {"dev": dev, "held-out": held_out, "all": reports}[args.split]
    start = time.perf_counter()
    result = evaluate(chosen, load_mapping(), uncertain_as_present=args.uncertain_as_present)
    seconds = time.perf_counter() - start
    without_normal = evaluate(
        chosen,
        load_mapping(),
        uncertain_as_present=args.uncertain_as_present,
        exclude=("normal",),
    )

    _print_table(result, args.split)
    print(f"micro F1 without the derived 'normal' label: {_fmt(without_normal.micro.f1)}")
    entry = {
        "split": args.split,
        "split_rule": SPLITS[args.split],
        "held_out_from_id": HELD_OUT_FROM,
        "uncertain_counts_as": "present" if args.uncertain_as_present else "not present",
        "command": "python benchmarks/labeler_iu_xray.py --split "
        + args.split
        + (" --uncertain-as-present" if args.uncertain_as_present else ""),
        "seconds": round(seconds, 2),
        "python": platform.python_version(),
        **result.to_dict(),
        "micro_without_normal": without_normal.to_dict()["micro"],
        "macro_f1_without_normal": without_normal.to_dict()["macro_f1"],
    }
    key = args.split + ("+uncertain" if args.uncertain_as_present else "")
    existing = json.loads(args.out.read_text()) if args.out.is_file() else {}
    existing[key] = entry
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(existing, indent=2) + "\n")
    print(f"wrote {args.out} [{key}]")
    return 0


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _print_table(result: Evaluation, split: str) -> None:
    rows = sorted(result.per_label.items(), key=lambda kv: (-kv[1].support, kv[0]))
    micro = result.micro
    title = f"labeler vs IU X-ray MeSH, {split} split ({result.reports} reports)"
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:
        print(title)
        print(f"{'label':32}{'n':>6}{'tp':>6}{'fp':>6}{'fn':>6}{'P':>8}{'R':>8}{'F1':>8}")
        for name, c in rows:
            print(
                f"{name:32}{c.support:>6}{c.tp:>6}{c.fp:>6}{c.fn:>6}"
                f"{_fmt(c.precision):>8}{_fmt(c.recall):>8}{_fmt(c.f1):>8}"
            )
        print(f"micro P {_fmt(micro.precision)} R {_fmt(micro.recall)} F1 {_fmt(micro.f1)}")
        print(f"macro F1 {_fmt(result.macro_f1)}")
        return
    table = Table(title=title)
    for column in ("label", "n", "tp", "fp", "fn", "precision", "recall", "F1"):
        table.add_column(column, justify="left" if column == "label" else "right")
    for name, c in rows:
        table.add_row(
            name,
            str(c.support),
            str(c.tp),
            str(c.fp),
            str(c.fn),
            _fmt(c.precision),
            _fmt(c.recall),
            _fmt(c.f1),
        )
    table.add_section()
    table.add_row(
        "micro",
        str(micro.support),
        str(micro.tp),
        str(micro.fp),
        str(micro.fn),
        _fmt(micro.precision),
        _fmt(micro.recall),
        _fmt(micro.f1),
    )
    table.add_row("macro F1", "", "", "", "", "", "", _fmt(result.macro_f1))
    Console().print(table)


if __name__ == "__main__":
    sys.exit(main())
