"""``explainmyxray monitor``: drift between a reference and a current run, or a saved profile.

``monitor REFERENCE CURRENT [--out DIR]`` compares (each side a run folder or a profile file) and
writes ``drift.html`` and ``drift.json``; ``monitor profile RUN [--out FILE]`` saves RUN's
de-identified profile as a reference for later comparisons.
"""

from __future__ import annotations

import argparse

from ..track import add_track_argument

PROFILE_FILE = "drift_profile.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "reference",
        metavar="REFERENCE",
        help="reference run folder or saved profile; or the word `profile` to save one",
    )
    parser.add_argument(
        "current", metavar="CURRENT", help="current run folder or profile (after `profile`: RUN)"
    )
    parser.add_argument(
        "--out",
        "-o",
        help=f"compare: output folder (default CURRENT/drift); profile: file "
        f"(default RUN/{PROFILE_FILE})",
    )
    parser.add_argument(
        "--alpha", type=float, default=0.05, help="family-wise error rate (Holm); default 0.05"
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the permutation tests")
    parser.add_argument(
        "--no-text-embeddings",
        action="store_true",
        help="do not embed report texts with MiniLM when profiling a run folder",
    )
    add_track_argument(parser)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ...core.errors import UsageError

    if not 0 < args.alpha < 1:
        raise UsageError(f"--alpha must be between 0 and 1, got {args.alpha}")
    if args.reference == "profile":
        return _save_profile(Path(args.current), args)
    return _compare(Path(args.reference), Path(args.current), args)


def _save_profile(run_dir, args: argparse.Namespace) -> int:
    from pathlib import Path

    from ...core.errors import UsageError
    from ...tracking.profile import build_profile, save_profile
    from ..console import out

    if not run_dir.is_dir():
        raise UsageError(f"{run_dir}: not a run folder")
    profile = build_profile(run_dir, embed_text=not args.no_text_embeddings)
    target = save_profile(profile, Path(args.out) if args.out else run_dir / PROFILE_FILE)
    embedded = f", report texts embedded with {profile.text_embedding_model}"
    out().print(
        f"profile of {profile.n_cases} case(s)"
        f"{embedded if profile.text_embedding_model else ''}: {target}",
        highlight=False,
    )
    return 0


def _compare(reference, current, args: argparse.Namespace) -> int:
    from pathlib import Path

    from rich.markup import escape
    from rich.table import Table

    from ...core.results import atomic_write_json
    from ...tracking.mlflow_store import require_mlflow, resolve_tracking
    from ...tracking.monitor import compare
    from ...tracking.page import write_page
    from ...tracking.profile import resolve_profile
    from ..console import out

    tracking = resolve_tracking(args.track)
    if tracking is not None:
        require_mlflow()
    embed = not args.no_text_embeddings
    report = compare(
        resolve_profile(reference, embed_text=embed),
        resolve_profile(current, embed_text=embed),
        reference_name=str(reference),
        current_name=str(current),
        alpha=args.alpha,
        seed=args.seed,
    )
    out_dir = Path(args.out) if args.out else _default_out(current)
    page = write_page(report, out_dir)
    atomic_write_json(out_dir / "drift.json", report.summary())
    console = out()
    table = Table(title="Drift", title_justify="left")
    for column in ("signal", "verdict", "test", "statistic", "p", "adjusted p"):
        table.add_column(column, justify="left" if column in ("signal", "test") else "right")
    for s in report.signals:
        if s.verdict == "not tested":
            continue
        colour = "red" if s.verdict == "drift" else "green"
        table.add_row(
            escape(f"{s.group}: {s.name}"),
            f"[{colour}]{s.verdict}[/]",
            escape(s.test or ""),
            f"{s.statistic:.4g}",
            f"{s.p_value:.4g}",
            f"{s.adjusted_p:.4g}",
        )
    console.print(table)
    drifted = report.drifted
    console.print(
        f"[red]drift on {len(drifted)} signal(s)[/]" if drifted else "[green]no drift flagged[/]",
        f"(Holm-adjusted p < {args.alpha:g}); page: {escape(str(page.resolve()))}",
        highlight=False,
    )
    if tracking is not None:
        from ...tracking.runs import log_drift
        from ..track import announce

        announce(log_drift(tracking, report, out_dir), tracking.uri)
    return 0


def _default_out(current):
    return current / "drift" if current.is_dir() else current.parent / "drift"
