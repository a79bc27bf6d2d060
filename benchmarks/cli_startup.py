"""How long `explainmyxray --help` takes, and that it imports no heavy library (target < 0.3 s).

    python benchmarks/cli_startup.py [--runs 20]

Prints a table and writes benchmarks/results/cli_startup.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

TARGET_S = 0.3
HEAVY = ("torch", "transformers", "pydantic", "numpy", "rich", "pydicom", "PIL")
PROBE = (
    "import sys\nfrom explainmyxray.cli.app import main\n"
    "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
    f"print(','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)\n"
)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    times = []
    for _ in range(args.runs):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "explainmyxray", "--help"], check=True, capture_output=True
        )
        times.append(time.perf_counter() - start)
    probe = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True)
    heavy = [m for m in probe.stderr.strip().split(",") if m]
    result = {
        "command": "explainmyxray --help",
        "runs": args.runs,
        "median_s": round(statistics.median(times), 4),
        "min_s": round(min(times), 4),
        "max_s": round(max(times), 4),
        "target_s": TARGET_S,
        "heavy_modules_imported": heavy,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
    }
    print(f"{'metric':<26}{'value':>10}")
    for key in ("median_s", "min_s", "max_s", "target_s"):
        print(f"{key:<26}{result[key]:>10}")
    print(f"{'heavy modules imported':<26}{','.join(heavy) or 'none':>10}")
    out = Path(__file__).parent / "results" / "cli_startup.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")
    return 0 if result["median_s"] < TARGET_S and not heavy else 1


if __name__ == "__main__":
    sys.exit(main())
