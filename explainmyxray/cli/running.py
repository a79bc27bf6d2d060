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
from ..core.outcomes import EXIT_NOTHING_PRODUCED
from ..core.results import prepare_out_dir
from ..outputs import write_case_outputs, write_index
from ..pipelines.engine import Engine
from ..pipelines.readiness import NotReadyError, check_readiness
from ..registry.plugins import PluginHost
from ..tracking.signals import write_signals
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
    track: str | None = None,
    dicom_outputs: bool = False,
    store: str | None = None,
    dicomweb_user: str | None = None,
) -> RunSummary:
    """Run a pipeline over files, folders, globs and ``dicomweb:`` references.

    ``track`` is the ``--track`` value (None: not given); see :mod:`explainmyxray.tracking`.
    ``dicom_outputs`` adds ``sr.dcm`` and ``seg.dcm`` per case; ``store`` (a ``dicomweb:`` root)
    also sends them to a PACS, which needs ``keep_phi``: results join the patient's study.
    Radiographs retrieved over DICOMweb live in the run's work folder until the run ends.
    """
    from ..tracking.mlflow_store import require_mlflow, resolve_tracking

    web_refs = [str(i) for i in inputs if str(i).startswith(DICOMWEB_PREFIX)]
    local = [i for i in inputs if not str(i).startswith(DICOMWEB_PREFIX)]
    auth = None
    if web_refs or store:
        from ..interop.dicomweb import DicomWebAuth

        auth = DicomWebAuth.from_options(dicomweb_user)
    case_writers: list[CaseWriter] = [write_case_outputs, write_signals]
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
            tracking = resolve_tracking(track, pipeline.config.tracking)
            if tracking is not None:
                require_mlflow()  # before the run, not after it
            sources = expand_inputs(local) if local else []
            plan = engine.plan(pipeline)
            readiness = check_readiness(pipeline, plan, host)
            if not readiness.ready:
                raise NotReadyError(pipeline.name, readiness.gaps)
            prepare_out_dir(out_dir)  # a bad --out is a usage error before any work
            if web_refs:
                from ..interop.dicomweb import download_inputs

                assert auth is not None
                sources += download_inputs(web_refs, work, auth)
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
    if tracking is not None:
        from ..tracking.runs import log_pipeline_run
        from .track import announce

        run_id = log_pipeline_run(
            tracking,
            out_dir,
            host=host,
            pipeline=pipeline,
            plan=plan,
            stats=engine.manager.stats,
            summary=summary,
        )
        announce(run_id, tracking.uri)
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
        write_index(
            out_dir,
            cases,
            title=title,
            pipeline_name=pipeline_name,
            provenance=_manifest(out_dir).get("provenance"),
        )

    return [index]


def _manifest(out_dir: Path) -> dict:
    """The run's ``run.json`` (written before the run writers), or {} when unreadable."""
    import json

    try:
        document = json.loads((out_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


def exit_status(summary: RunSummary) -> int:
    """0 all finished; 1 some case failed; 4 the main stage produced nothing for any case;
    130 interrupted (Ctrl-C). Usage and configuration errors (2) and a pipeline that is not
    ready (3) stop before any work."""
    if summary.interrupted:
        return 130
    if summary.nothing_produced:
        return EXIT_NOTHING_PRODUCED
    return 0 if summary.ok else 1


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
    if summary.interrupted:
        status = "[yellow]interrupted[/] (rerun the same command to continue)"
    else:
        status = "[green]all finished[/]" if summary.ok else f"[red]{summary.failed} failed[/]"
    folded = summary.duplicates
    duplicates = f" ({folded} duplicate file(s) folded in)" if folded else ""
    not_run = summary.total - summary.finished - summary.failed - summary.skipped
    console.print(
        f"{summary.total} input(s){duplicates}: {summary.finished} finished, {summary.skipped} "
        f"skipped (already done), {status}" + (f", {not_run} not run" if not_run else "")
    )
    if summary.unmapped:
        console.print(
            f"[yellow]{summary.unmapped} report statement(s) name no known finding[/] "
            "(listed as unmapped in each report.json)"
        )
    for case_id, source, errors in summary.failures:
        source = summary.paths.get(case_id, source)
        for e in errors:
            where = f"{escape(source)}: {e.stage} ({escape(e.plugin)})"
            console.print(f"  [red]✗[/] {where}: {escape(e.message)}", highlight=False)
    if summary.outcomes:
        console.print("[bold]What this run did[/]")
        for outcome in summary.outcomes:
            if outcome.reached and outcome.produced == outcome.reached:
                mark = "[green]✓[/]"
            else:
                mark = "[yellow]![/]" if outcome.produced else "[red]✗[/]"
            console.print(
                f"  {mark} {escape(outcome.label)}: {escape(outcome.sentence())}", highlight=False
            )
    if summary.nothing_produced:
        console.print(f"[red]✗ {escape(summary.nothing_produced)}[/]", highlight=False)
