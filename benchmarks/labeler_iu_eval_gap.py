"""Why `explainmyxray eval` of labeled IU X-ray reports differs from the labeler benchmark.

    explainmyxray label --split dev --out /tmp/iu_dev
    python benchmarks/labeler_iu_eval_gap.py /tmp/iu_dev [--reference NLMCXR_reports.tgz]

Both score the same reports against the same MeSH terms through the same mapping
(``explainmyxray/datasets/data/iu_mesh_to_padchest.yaml``), uncertain counting as not present.
They count different things. Starting from the written ``cases/*/report.json`` and the ``iuxray``
references, this script recomputes the micro F1 step by step, each step one change:

A  the benchmark: evaluation labels (groups); a group is predicted when any of its PadChest labels
   is present, true when one of its MeSH patterns matches; ``normal`` left out (eval ignores it);
B  exact PadChest labels instead of groups, only labels of some group's ``padchest`` list, only the
   reference labels of MeSH terms a group covers (the labeler's ``atelectasis basal`` no longer
   hits MeSH ``Pulmonary Atelectasis`` → ``atelectasis``);
C  B with every reference label that is some group's PadChest label, whatever term it came from
   (adds ``reference_only`` terms such as ``Sutures`` → suture material and out-of-group
   refinements such as ``Arthritis/spine`` → vertebral degenerative changes);
D  every label on both sides: the eval's ``finding_f1_micro`` (checked against ``evaluate_run``).

Step A must equal the benchmark's ``micro_without_normal`` for the split exactly (checked). Prints
a table and writes ``benchmarks/results/labeler_iu_eval_gap.json`` (key: the run's split).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explainmyxray.datasets.iu_xray import IUReport, MeshMapping, load_mapping  # noqa: E402
from explainmyxray.scoring.evaluate import (  # noqa: E402
    compare_case,
    default_vocabulary,
    evaluate_run,
    load_run_cases,
)
from explainmyxray.scoring.references import case_key, load_references  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "labeler_iu_eval_gap.json"
BENCHMARK = ROOT / "benchmarks" / "results" / "labeler_iu_xray.json"


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, predicted: set, reference: set) -> None:
        self.tp += len(predicted & reference)
        self.fp += len(predicted - reference)
        self.fn += len(reference - predicted)

    @property
    def f1(self) -> float:
        return 2 * self.tp / (2 * self.tp + self.fp + self.fn)

    def row(self) -> dict:
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "f1": round(self.f1, 4)}


def decompose(run_dir: Path, reference: Path, mapping: MeshMapping | None = None) -> dict:
    """The steps A-D of the module docstring, with what moved between them."""
    mapping = mapping or load_mapping()
    vocabulary = default_vocabulary()
    cases = load_run_cases(run_dir)
    references = load_references(reference, "iuxray", keys=[case_key(c) for c in cases])
    groups = [g for g in mapping.labels if g.name != "normal"]
    group_labels = {vocabulary.finding(x) for g in groups for x in g.padchest}
    steps = {name: Counts() for name in "ABCD"}
    moved: dict[str, Counter] = {"B_fn": Counter(), "B_fp": Counter(), "D_fp": Counter()}
    scored = 0
    for case in cases:
        ref = references.for_case(case)
        if ref is None or case.failed or case.report is None or ref.findings is None:
            continue
        scored += 1
        comparison = compare_case(case, ref, vocabulary)
        present = {f.label for f in case.report.present()}
        terms = tuple(t for t in ref.meta["mesh"].split("; ") if t)
        report = IUReport(None, "", "", terms)
        gold = {g.name for g in groups if g.in_mesh(terms)}
        guessed = {g.name for g in groups if g.padchest & present}
        steps["A"].add(guessed, gold)
        mapped = [mapping.map_term(t) for t in report.mesh_major]
        from_groups = {vocabulary.finding(m.label) for m in mapped if m.label and m.groups}
        from_groups = (from_groups - {"normal"}) & group_labels
        predicted_in_groups = comparison.predicted & group_labels
        steps["B"].add(predicted_in_groups, from_groups)
        moved["B_fn"].update(from_groups - predicted_in_groups)
        moved["B_fp"].update(predicted_in_groups - from_groups)
        steps["C"].add(predicted_in_groups, comparison.reference & group_labels)
        steps["D"].add(comparison.predicted, comparison.reference)
        moved["D_fp"].update(comparison.predicted - group_labels - comparison.reference)
    result = evaluate_run(cases, references, n_resamples=1)
    eval_f1 = result.metrics["finding_f1_micro"].estimate
    if eval_f1 is None or abs(eval_f1 - steps["D"].f1) > 1e-9:
        raise AssertionError(f"step D {steps['D'].f1} is not the eval's finding F1 {eval_f1}")
    return {
        "cases_scored": scored,
        "steps": {name: counts.row() for name, counts in steps.items()},
        "eval_finding_f1_micro": round(eval_f1, 4),
        "top_B_fn": moved["B_fn"].most_common(8),
        "top_B_fp": moved["B_fp"].most_common(8),
        "top_D_fp_outside_groups": moved["D_fp"].most_common(8),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path, help="a folder written by `explainmyxray label`")
    parser.add_argument("--reference", type=Path, default=None, help="NLMCXR_reports.tgz")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    from explainmyxray.datasets.iu_xray import default_archive

    reference = args.reference or default_archive()
    split = json.loads((args.run_dir / "run.json").read_text())["split"]
    gap = decompose(args.run_dir, reference)
    benchmark = json.loads(BENCHMARK.read_text()).get(split, {}).get("micro_without_normal")
    if benchmark is not None:
        a = gap["steps"]["A"]
        same = (a["tp"], a["fp"], a["fn"]) == (benchmark["tp"], benchmark["fp"], benchmark["fn"])
        gap["benchmark_micro_without_normal"] = benchmark
        gap["A_equals_benchmark"] = same
        if not same:
            print(f"step A {a} differs from the benchmark {benchmark}", file=sys.stderr)
    print(f"{'step':6}{'tp':>7}{'fp':>7}{'fn':>7}{'micro F1':>10}")
    for name, row in gap["steps"].items():
        print(f"{name:6}{row['tp']:>7}{row['fp']:>7}{row['fn']:>7}{row['f1']:>10.3f}")
    for key in ("top_B_fn", "top_B_fp", "top_D_fp_outside_groups"):
        print(f"{key}: {gap[key]}")
    existing = json.loads(args.out.read_text()) if args.out.is_file() else {}
    existing[split] = {
        "command": f"python benchmarks/labeler_iu_eval_gap.py RUN_DIR  # label --split {split}",
        **gap,
    }
    args.out.write_text(json.dumps(existing, indent=2) + "\n")
    print(f"wrote {args.out} [{split}]")
    return 0 if gap.get("A_equals_benchmark", True) else 1


if __name__ == "__main__":
    sys.exit(main())
