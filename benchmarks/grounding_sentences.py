"""Sentence grounding on the development set of report sentences (tests/reading/).

    python benchmarks/grounding_sentences.py

Reads ``tests/reading/grounding_sentences.tsv`` (sentences written like IU X-ray and MIMIC-CXR
report sentences, negated ones too, with the expected findings and regions), reads and grounds
each sentence (:mod:`explainmyxray.anatomy.sentence_grounding`), prints a table of the misses and
the scores, and writes ``benchmarks/results/grounding_sentences.json``. Goals (issue 13):
sentences stating a finding grounded on exactly the right regions >= 0.90; negated sentences
grounded: 0.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explainmyxray.anatomy.sentence_grounding import read_cases, score  # noqa: E402

DEV_SET = ROOT / "tests" / "reading" / "grounding_sentences.tsv"
RESULTS = ROOT / "benchmarks" / "results" / "grounding_sentences.json"


def main() -> int:
    from rich.console import Console
    from rich.table import Table

    started = time.perf_counter()
    result = score(read_cases(DEV_SET))
    seconds = time.perf_counter() - started
    misses = Table(title="sentences grounded wrong")
    for column in ("sentence", "expected", "got"):
        misses.add_column(column)
    for r in result.results:
        if (r.case.negated and r.regions) or (not r.case.negated and not r.regions_right):
            misses.add_row(
                r.case.sentence,
                " ".join(sorted(r.case.regions)) or "-",
                " ".join(sorted(r.regions)) or "-",
            )
    summary = Table(title="sentence grounding (development set)")
    summary.add_column("measure")
    summary.add_column("value", justify="right")
    summary.add_row("sentences", str(result.sentences))
    summary.add_row("stating a finding", str(result.abnormal))
    summary.add_row("negated / normal", str(result.negated))
    summary.add_row("grounded on the right regions", f"{result.grounding_accuracy:.3f}")
    summary.add_row("findings read right", f"{result.findings_right / result.sentences:.3f}")
    summary.add_row("negated sentences grounded", str(result.negated_grounded))
    console = Console()
    console.print(misses)
    console.print(summary)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "command": "python benchmarks/grounding_sentences.py",
        "dev_set": str(DEV_SET.relative_to(ROOT)),
        "sentences": result.sentences,
        "stating_a_finding": result.abnormal,
        "negated": result.negated,
        "grounding_accuracy": round(result.grounding_accuracy, 4),
        "findings_accuracy": round(result.findings_right / result.sentences, 4),
        "negated_grounded": result.negated_grounded,
        "seconds": round(seconds, 2),
        "misses": [
            {
                "sentence": r.case.sentence,
                "expected": sorted(r.case.regions),
                "got": sorted(r.regions),
                "findings": list(r.findings),
            }
            for r in result.results
            if (r.case.negated and r.regions) or (not r.case.negated and not r.regions_right)
        ],
    }
    RESULTS.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    console.print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
