"""What ``run`` and ``demo`` share: resolve, plan, execute with progress, print the summary."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.table import Table

from ..core.errors import UsageError
from ..core.inputs import expand_inputs
from ..core.memory import format_size
from ..core.orchestrator import CaseWriter, RunSummary
from ..outputs import write_case_outputs, write_index
from ..pipelines.engine import Engine
from ..registry.plugins import PluginHost
from .console import out
from .progress import StepProgress

if TYPE_CHECKING:
    from ..interop.dicomweb import DicomWebAuth

DICOMWEB_PREFIX = "dicomweb:"
DICOMWEB_WORK_DIR = ".dicomweb-inputs"
"""Where radiographs retrieved over DICOMweb wait for their run (removed when it ends)."""


def execute(
    host: PluginHost,
    pipeline_ref: str | Path,
    inputs: Sequence[str | Path],
    out_dir: Path,
    *,
    force: bool = False,
    device: str | None = None,
    keep_phi: bool = False,
    report_text: str | None = None,
    dicom_outputs: bool = False,
    store: str | None = None,
    dicomweb_user: str | None = None,
) -> RunSummary:
    """Run a pipeline over files, folders, globs and ``dicomweb:`` references.

    ``dicom_outputs`` adds ``sr.dcm`` and ``seg.dcm`` per case; ``store`` (a ``dicomweb:`` root)
    also sends them to a PACS, which needs ``keep_phi``: results join the patient's study.
    Radiographs retrieved over DICOMweb live in the run's work folder until the run ends.
    """
    web_refs = [str(i) for i in inputs if str(i).startswith(DICOMWEB_PREFIX)]
    local = [i for i in inputs if not str(i).startswith(DICOMWEB_PREFIX)]
    auth = None
    if web_refs or store:
        from ..interop.dicomweb import DicomWebAuth

        auth = DicomWebAuth.from_options(dicomweb_user)
    case_writers: list[CaseWriter] = [write_case_outputs]
    if store:
        case_writers += _store_writers(store, keep_phi=keep_phi, auth=auth)
    elif dicom_outputs:
        from ..interop.case_writer import dicom_case_writer

        case_writers.append(dicom_case_writer(keep_phi=keep_phi))
    work = out_dir / DICOMWEB_WORK_DIR
    try:
        # One run: models no later step needs are unloaded at once, as they always were.
        with Engine(host, device=device, retain=False) as engine:
            pipeline = engine.load(pipeline_ref)
            sources = expand_inputs(local) if local else []
            if web_refs:
                from ..interop.dicomweb import download_inputs

                assert auth is not None
                sources += download_inputs(web_refs, work, auth)
            plan = engine.plan(pipeline)
            console = out()
            console.print(
                f"[bold]{escape(pipeline.name)}[/]: {len(sources)} input(s) → "
                f"{escape(str(out_dir))}",
                highlight=False,
            )
            progress = StepProgress([ps.step.label for ps in plan.steps], len(sources), console)
            with progress:
                summary = engine.run(
                    pipeline,
                    sources,
                    out_dir,
                    force=force,
                    report_text=report_text,
                    keep_phi=keep_phi,
                    case_writers=case_writers,
                    run_writers=_run_writers(pipeline.name),
                    progress=progress,
                )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print_summary(summary)
    index = out_dir / "index.html"
    if index.is_file():
        console.print(f"HTML report: {index.resolve()}", highlight=False)
    return summary


def _store_writers(store: str, *, keep_phi: bool, auth: DicomWebAuth | None) -> list[CaseWriter]:
    from ..interop.case_writer import dicom_case_writer
    from ..interop.dicomweb import DicomWebClient, parse_ref, store_case_writer

    if not keep_phi:
        raise UsageError(
            f"--store {store}: storing results in a PACS attaches them to the patient's study, "
            "which needs the source's patient and study identifiers; add --keep-phi to confirm"
        )
    target = parse_ref(store)
    if target.study is not None or target.is_query:
        raise UsageError(f"--store {store}: give the DICOMweb root (e.g. http://pacs/dicom-web)")
    client = DicomWebClient(target.base, auth)
    return [dicom_case_writer(keep_phi=keep_phi), store_case_writer(client)]


def _run_writers(pipeline_name: str):
    def index(out_dir: Path, cases) -> None:
        title = f"ExplainMyXray — {pipeline_name}"
        write_index(out_dir, cases, title=title, pipeline_name=pipeline_name)

    return [index]


def print_summary(summary: RunSummary) -> None:
    console = out()
    table = Table(title="Run summary", title_justify="left")
    table.add_column("step")
    table.add_column("seconds", justify="right")
    for label, seconds in summary.stage_seconds.items():
        table.add_row(label, f"{seconds:.2f}")
    console.print(table)
    loads = ", ".join(f"{n}×{c}" for n, c in summary.model_loads.items()) or "none"
    peaks = ", ".join(f"{k} {format_size(v)}" for k, v in summary.peak_bytes.items()) or "-"
    console.print(f"Model loads: {loads}; peak resident: {peaks}", highlight=False)
    status = "[green]all finished[/]" if summary.ok else f"[red]{summary.failed} failed[/]"
    console.print(
        f"{summary.total} input(s): {summary.finished} finished, {summary.skipped} skipped "
        f"(already done), {status}"
    )
    for _case_id, source, errors in summary.failures:
        for e in errors:
            where = f"{escape(source)}: {e.stage} ({escape(e.plugin)})"
            console.print(f"  [red]✗[/] {where}: {escape(e.message)}", highlight=False)
