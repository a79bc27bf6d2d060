"""The whole pydicom / pydicom-data corpus plus a bomb of every syntax through `run`, measured.

    PYTHONPATH=$PWD python benchmarks/hostile_corpus.py [--gate]

Runs the preprocess-only pipeline (every modality allowed, so every decoder runs; ``--gate``
keeps the default chest-radiography gate) over every file pydicom and pydicom-data ship and the
bombs of tests/imaging/bombs.py, in a child process whose peak RSS is measured. Prints a table
and writes benchmarks/results/hostile_corpus.json (with the machine's load average).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.imaging import bombs  # noqa: E402

PIPELINE = "name: image\nstages:\n  - stage: preprocess\n    plugin: image\n"
ANY = "    options:\n      modalities: ['*']\n      body_parts: ['*']\n"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gate", action="store_true", help="keep the default modality gate")
    args = parser.parse_args()
    from pydicom.data import get_testdata_files

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        corpus = root / "corpus"
        corpus.mkdir()
        files = [Path(p) for p in get_testdata_files("**/*")]
        for n, path in enumerate(files):
            (corpus / f"{n:03d}-{path.name}").symlink_to(path)
        made = bombs.write_all(corpus / "bombs")
        (root / "p.yaml").write_text(PIPELINE + ("" if args.gate else ANY))
        env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}
        command = [sys.executable, "-m", "explainmyxray", "--plugin", "image", "run"]
        start = time.perf_counter()
        done = subprocess.run(
            [*command, str(root / "p.yaml"), str(corpus), "--out", str(root / "out")],
            env=env,
            capture_output=True,
            text=True,
        )
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        summary = json.loads((root / "out" / "run.json").read_text())["summary"]
    output = done.stdout + done.stderr
    result = {
        "files": len(files),
        "bombs": len(made),
        "cases": summary["total"],
        "duplicates": summary["duplicates"],
        "finished": summary["finished"],
        "failed": summary["failed"],
        "exit_code": done.returncode,
        "tracebacks": output.count("Traceback"),
        "peak_rss_mib": round(peak / 2**20, 1),
        "seconds": round(seconds, 1),
        "gate": args.gate,
        "load_average": os.getloadavg(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    width = max(map(len, result))
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    out = REPO / "benchmarks" / "results" / f"hostile_corpus{'_gate' if args.gate else ''}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
