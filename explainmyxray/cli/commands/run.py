from __future__ import annotations

import argparse

from ..track import add_track_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pipeline", help="a pipeline YAML file, or the name of a shipped one")
    parser.add_argument(
        "inputs",
        nargs="+",
        help="image files, folders, glob patterns, or dicomweb:URL (a study, a series, or a "
        "QIDO search such as dicomweb:http://pacs/dicom-web/studies?modality=CR,DX&since=2024-01-01)",
    )
    parser.add_argument("--out", "-o", required=True, help="output folder (created)")
    parser.add_argument("--force", action="store_true", help="redo cases already finished")
    parser.add_argument("--device", help="override the pipeline's device (cpu, cuda, cuda:N)")
    parser.add_argument("--report", help="report text to ground and verify (all inputs)")
    parser.add_argument(
        "--keep-phi",
        action="store_true",
        help="keep patient identifiers from DICOM headers in outputs (off by default)",
    )
    add_track_argument(parser)
    parser.add_argument(
        "--dicom-outputs",
        action="store_true",
        help="also write sr.dcm (TID 1500 SR with the finding boxes) and seg.dcm (region masks)",
    )
    parser.add_argument(
        "--store",
        metavar="dicomweb:URL",
        help="send sr.dcm and seg.dcm to a PACS with STOW-RS (needs --keep-phi; implies "
        "--dicom-outputs)",
    )
    parser.add_argument(
        "--dicomweb-user",
        metavar="USER",
        help="HTTP basic user for DICOMweb; the password is read from "
        "$EXPLAINMYXRAY_DICOMWEB_PASSWORD (a bearer token from $EXPLAINMYXRAY_DICOMWEB_TOKEN)",
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..console import make_host
    from ..running import execute, exit_status

    host = make_host(args)
    summary = execute(
        host,
        args.pipeline,
        args.inputs,
        Path(args.out),
        force=args.force,
        device=args.device,
        keep_phi=args.keep_phi,
        report_text=args.report,
        track=args.track,
        dicom_outputs=args.dicom_outputs,
        store=args.store,
        dicomweb_user=args.dicomweb_user,
    )
    return exit_status(summary)
