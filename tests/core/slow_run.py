"""One run of a one-step pipeline whose reader is slow and logs each case it reads.

``python -m tests.core.slow_run OUT LOG INPUT...``: two of these started together into one OUT
must share the cases between them, each case read once (the per-case locks).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from explainmyxray import hookimpl
from explainmyxray.core.case import XrayImage
from explainmyxray.pipelines.engine import Engine
from explainmyxray.pipelines.loader import parse_pipeline
from explainmyxray.registry.plugins import PluginHost

PIPELINE = (
    "name: slow\ndevice: cpu\nbatch_size: 1\nstages:\n  - stage: preprocess\n    plugin: slow\n"
)


class SlowReader:
    def __init__(self, log: Path) -> None:
        self.log = log

    @hookimpl
    def register_stages(self, register):
        register("preprocess")

    @hookimpl
    def preprocess(self, cases, step):
        out = []
        for case in cases:
            with self.log.open("a") as fh:
                fh.write(f"{os.getpid()} {case.id}\n")
            time.sleep(0.5)
            pixels = np.zeros((8, 8), dtype=np.float32)
            out.append(XrayImage(pixels=pixels, width=8, height=8, source_format="png"))
        return out


def main() -> None:
    out, log, *inputs = sys.argv[1:]
    host = PluginHost(builtins={}, discover=False, extra_plugins=[("slow", SlowReader(Path(log)))])
    pipeline = parse_pipeline(PIPELINE, host, source="slow.yaml")
    with Engine(host, retain=False) as engine:
        summary = engine.run(pipeline, [Path(p) for p in inputs], Path(out))
    print(json.dumps({"finished": summary.finished, "skipped": summary.skipped}))


if __name__ == "__main__":
    main()
