"""Time the report parser and the labeler on long and hostile text (issue 14, item 6).

    python benchmarks/text_linearity.py

Inputs: a realistic 100 KB report (report sentences repeated with numbers so that no sentence
repeats exactly), ``"FINDINGS" + 12,000 spaces + "!"``, ``"no " * 16000``, and each hostile
pattern at n and 4n characters (a linear reader takes about 4x as long on 4n). Prints a table
and writes ``benchmarks/results/text_linearity.json``. Goal: the 100 KB report parses in under
a second.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explainmyxray.labeler import default_labeler, label_report  # noqa: E402
from explainmyxray.report.parse import parse_report  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "text_linearity.json"
SENTENCES = (
    "Small left pleural effusion measuring {i} mm.",
    "No pneumothorax.",
    "Right lower lobe consolidation, possibly pneumonia, seen on image {i}.",
    "The heart size is normal.",
    "Calcified granuloma in the right upper lobe, {i} mm.",
)


def realistic(size: int) -> str:
    parts, i = ["FINDINGS:"], 0
    while sum(len(p) + 1 for p in parts) < size:
        parts.append(SENTENCES[i % len(SENTENCES)].format(i=i))
        i += 1
    return " ".join(parts)[:size]


HOSTILE = {
    "spaces after a header": lambda n: "FINDINGS" + " " * n + "!",
    "no no no": lambda n: "no " * (n // 3),
    "periods": lambda n: ". " * (n // 2),
    "open parentheses": lambda n: "(" * n,
    "separators": lambda n: "a: - " * (n // 5),
    "a long list": lambda n: "left effusion, " * (n // 15),
}


def seconds(fn, text: str, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        default_labeler()._cache.clear()  # time the reading, not the caches
        default_labeler()._cues.clear()
        started = time.process_time()
        fn(text)
        best = min(best, time.process_time() - started)
    return best


def main() -> int:
    from rich.console import Console
    from rich.table import Table

    label_report("warm up")
    parse_report("warm up")
    rows = []
    for name, text in (
        ("100 KB report", realistic(100_000)),
        ("FINDINGS + 12,000 spaces + !", "FINDINGS" + " " * 12_000 + "!"),
        ('"no " x 16,000', "no " * 16_000),
    ):
        rows.append(
            {
                "input": name,
                "chars": len(text),
                "parse_s": round(seconds(parse_report, text), 4),
                "label_s": round(seconds(label_report, text), 4),
            }
        )
    ratios = []
    for name, make in HOSTILE.items():
        small, large = make(20_000), make(80_000)
        ratios.append(
            {
                "input": name,
                "parse_ratio_4n_over_n": round(
                    seconds(parse_report, large) / max(seconds(parse_report, small), 1e-4), 2
                ),
                "label_ratio_4n_over_n": round(
                    seconds(label_report, large) / max(seconds(label_report, small), 1e-4), 2
                ),
            }
        )
    table = Table(title="parser and labeler time (CPU seconds, best of 3)")
    for column in ("input", "chars", "parse s", "label s"):
        table.add_column(column)
    for row in rows:
        table.add_row(row["input"], str(row["chars"]), str(row["parse_s"]), str(row["label_s"]))
    growth = Table(title="time at 4n over time at n (n = 20,000 chars; linear ~ 4, quadratic ~ 16)")
    for column in ("input", "parse", "label"):
        growth.add_column(column)
    for row in ratios:
        growth.add_row(
            row["input"], str(row["parse_ratio_4n_over_n"]), str(row["label_ratio_4n_over_n"])
        )
    console = Console()
    console.print(table)
    console.print(growth)
    load = os.getloadavg()
    RESULTS.write_text(
        json.dumps(
            {
                "command": "python benchmarks/text_linearity.py",
                "load_average": [round(x, 2) for x in load],
                "cpus": os.cpu_count(),
                "times": rows,
                "growth": ratios,
                "goal": "100 KB report parses in < 1 s",
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    console.print(f"wrote {RESULTS} (load average {load[0]:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
