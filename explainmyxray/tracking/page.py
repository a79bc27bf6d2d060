"""The drift report as one self-contained HTML page: tables, verdicts and matplotlib plots.

Every plot is a PNG inside the page (a ``data:`` URI); the page loads nothing from anywhere.
"""

from __future__ import annotations

import base64
import io
from html import escape
from pathlib import Path

import numpy as np

from ..core.results import atomic_write_bytes
from .monitor import DriftReport, SignalResult

PAGE_FILE = "drift.html"
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'"
REFERENCE_COLOR = "#4477aa"
CURRENT_COLOR = "#ee6677"
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:24px;color:#222}
table{border-collapse:collapse;margin:12px 0}td,th{border:1px solid #ccc;padding:4px 8px;
text-align:left;font-size:14px}th{background:#f4f4f4}.drift{color:#b00020;font-weight:600}
.ok{color:#1b7a1b}.untested{color:#777}figure{display:inline-block;margin:8px;vertical-align:top}
figure img{max-width:100%;height:auto;border:1px solid #eee}figcaption{font-size:13px}
"""


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower())


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=80, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _draw_categorical(axes, signal: SignalResult) -> None:
    ref, cur = signal.reference or {}, signal.current or {}
    categories = sorted(set(ref) | set(cur))
    x = np.arange(len(categories))
    n_ref, n_cur = max(1, sum(ref.values())), max(1, sum(cur.values()))
    axes.bar(x - 0.2, [ref.get(c, 0) / n_ref for c in categories], 0.4, color=REFERENCE_COLOR)
    axes.bar(x + 0.2, [cur.get(c, 0) / n_cur for c in categories], 0.4, color=CURRENT_COLOR)
    axes.set_xticks(x, [c[:14] for c in categories], rotation=35, ha="right", fontsize=7)
    axes.set_ylabel("share of cases", fontsize=8)


def _draw_continuous(axes, signal: SignalResult) -> None:
    for values, color in ((signal.reference, REFERENCE_COLOR), (signal.current, CURRENT_COLOR)):
        xs = np.sort(np.asarray(values or [], float))
        if xs.size:
            axes.step(xs, np.arange(1, xs.size + 1) / xs.size, where="post", color=color)
    axes.set_ylabel("cumulative share", fontsize=8)


def _draw_multivariate(axes, signal: SignalResult) -> None:
    """Both samples on the pooled sample's first two principal components."""
    ref = np.asarray(signal.reference or [], float)
    pooled = np.concatenate([ref, np.asarray(signal.current or [], float)])
    centred = pooled - pooled.mean(axis=0)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    projected = np.zeros((len(pooled), 2))
    components = min(2, vt.shape[0])
    projected[:, :components] = centred @ vt[:components].T
    axes.scatter(*projected[: len(ref)].T, color=REFERENCE_COLOR, s=14)
    axes.scatter(*projected[len(ref) :].T, color=CURRENT_COLOR, s=14, marker="^")
    axes.set_xlabel("PC 1", fontsize=8)
    axes.set_ylabel("PC 2", fontsize=8)


DRAW = {
    "categorical": _draw_categorical,
    "continuous": _draw_continuous,
    "multivariate": _draw_multivariate,
}


def _share_yes(counts: dict[str, int] | None) -> float:
    counts = counts or {}
    return counts.get("yes", 0) / max(1, sum(counts.values()))


def _rates_figure(signals: list[SignalResult]):
    """One bar pair per rate signal: the share of cases with it, reference against current."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(max(4.0, 0.55 * len(signals) + 1.5), 3.0))
    axes = figure.add_subplot()
    x = np.arange(len(signals))
    axes.bar(
        x - 0.2,
        [_share_yes(s.reference) for s in signals],
        0.4,
        color=REFERENCE_COLOR,
        label="reference",
    )
    axes.bar(
        x + 0.2, [_share_yes(s.current) for s in signals], 0.4, color=CURRENT_COLOR, label="current"
    )
    names = [("* " if s.verdict == "drift" else "") + s.name[:22] for s in signals]
    axes.set_xticks(x, names, rotation=35, ha="right", fontsize=7)
    axes.set_ylabel("share of cases", fontsize=8)
    axes.set_ylim(0, 1.05)
    axes.legend(fontsize=7)
    return figure


def _grid_figure(signals: list[SignalResult]):
    """Small multiples, one panel per signal, titled with its verdict."""
    from matplotlib.figure import Figure

    columns = min(3, len(signals))
    rows = -(-len(signals) // columns)
    figure = Figure(figsize=(3.3 * columns, 2.6 * rows), layout="constrained")
    for index, signal in enumerate(signals):
        axes = figure.add_subplot(rows, columns, index + 1)
        DRAW[signal.kind](axes, signal)
        mark = "DRIFT" if signal.verdict == "drift" else "ok"
        axes.set_title(
            f"{signal.name[:28]} [{mark}]",
            fontsize=8,
            color="#b00020" if signal.verdict == "drift" else "#222222",
        )
        axes.tick_params(labelsize=7)
    figure.legend(
        handles=[
            _patch(REFERENCE_COLOR, "reference"),
            _patch(CURRENT_COLOR, "current"),
        ],
        loc="outside lower center",
        ncols=2,
        fontsize=8,
    )
    return figure


def _patch(color: str, label: str):
    from matplotlib.patches import Patch

    return Patch(color=color, label=label)


def _group_figures(report: DriftReport) -> list[tuple[str, list[SignalResult], object]]:
    groups: dict[str, list[SignalResult]] = {}
    for signal in report.signals:
        if signal.verdict != "not tested":
            groups.setdefault(signal.group, []).append(signal)
    out = []
    for group, signals in groups.items():
        rates = all(s.kind == "rate" for s in signals)
        out.append((group, signals, _rates_figure(signals) if rates else _grid_figure(signals)))
    return out


def _verdict_cell(signal: SignalResult) -> str:
    css = {"drift": "drift", "no drift": "ok"}.get(signal.verdict, "untested")
    return f'<td class="{css}">{escape(signal.verdict)}</td>'


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def render_page(report: DriftReport) -> str:
    rows = []
    for s in report.signals:
        rows.append(
            f"<tr><td>{escape(s.group)}</td><td>{escape(s.name)}</td>{_verdict_cell(s)}"
            f"<td>{escape(s.test or '—')}</td><td>{_number(s.statistic)}</td>"
            f"<td>{_number(s.p_value)}</td><td>{_number(s.adjusted_p)}</td>"
            f"<td>{s.threshold:g}</td><td>{s.n_reference} / {s.n_current}</td>"
            f"<td>{escape(s.note)}</td></tr>"
        )
    figures = []
    for group, signals, figure in _group_figures(report):
        drifted_here = [s.name for s in signals if s.verdict == "drift"]
        caption = "drift: " + ", ".join(drifted_here) if drifted_here else "no drift flagged"
        figures.append(
            f'<figure id="plot-{escape(_slug(group))}" '
            f'data-drift="{len(drifted_here)}">'
            f'<img alt="{escape(group)}" src="data:image/png;base64,{_png(figure)}">'
            f"<figcaption><b>{escape(group)}</b> — {escape(caption)}</figcaption></figure>"
        )
    drifted = report.drifted
    headline = (
        f'<p class="drift">Drift on {len(drifted)} signal(s): '
        + escape(", ".join(f"{s.group}: {s.name}" for s in drifted))
        + "</p>"
        if drifted
        else '<p class="ok">No drift flagged.</p>'
    )
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{CSP}">
<title>ExplainMyXray drift report</title><style>{CSS}</style></head><body>
<h1>Drift report</h1>
<p>Reference: {escape(report.reference)} ({report.n_reference} cases).
Current: {escape(report.current)} ({report.n_current} cases).
Threshold: adjusted p &lt; {report.alpha:g}; correction: {escape(report.correction)}.</p>
{headline}
<table id="signals"><thead><tr><th>group</th><th>signal</th><th>verdict</th><th>test</th>
<th>statistic</th><th>p</th><th>adjusted p</th><th>threshold</th><th>n ref / cur</th>
<th>note</th></tr></thead><tbody>
{"".join(rows)}
</tbody></table>
<h2>Plots</h2>
<div id="plots">{"".join(figures)}</div>
</body></html>
"""


def write_page(report: DriftReport, out_dir: Path) -> Path:
    path = Path(out_dir) / PAGE_FILE
    atomic_write_bytes(path, render_page(report).encode("utf-8"))
    return path
