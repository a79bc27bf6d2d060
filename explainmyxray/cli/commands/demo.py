from __future__ import annotations

import argparse

DEMO_FILE = "RG1_UNCR.dcm"
DEMO_REPORT = (
    "FINDINGS: The heart size is normal. No pleural effusion. No pneumothorax. "
    "Mild pleural thickening at both apices.\n"
    "IMPRESSION: Mild apical pleural thickening; no acute abnormality."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", "-o", default="runs/demo", help="output folder (runs/demo)")
    parser.add_argument("--pipeline", default="default", help="pipeline to run (default)")
    parser.add_argument("--report", default=DEMO_REPORT, help="report text to ground and verify")
    parser.add_argument("--device", help="override the pipeline's device")
    parser.add_argument("--force", action="store_true", help="redo the case if already finished")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ...core.errors import UsageError
    from ..console import make_host, out
    from ..running import execute, exit_status

    try:
        from pydicom.data import get_testdata_file
    except ImportError as exc:
        raise UsageError("the demo needs pydicom: pip install 'explainmyxray[dicom]'") from exc
    path = get_testdata_file(DEMO_FILE)
    if path is None:
        raise UsageError(
            f"{DEMO_FILE} not found: install pydicom-data (pip install 'explainmyxray[dicom]')"
        )
    out().print(f"Demo input: {path} (an adult chest CR from pydicom-data)", highlight=False)
    summary = execute(
        make_host(args),
        args.pipeline,
        [path],
        Path(args.out),
        force=args.force,
        device=args.device,
        report_text=args.report,
    )
    return exit_status(summary)
