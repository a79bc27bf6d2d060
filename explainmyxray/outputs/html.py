"""One self-contained ``index.html`` per run: every case, readable offline in any browser.

Nothing is loaded from anywhere: images are ``data:`` URIs, the style sheet is inline and there is
no script. Every piece of text from a case is escaped.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path, PurePath

from explainmyxray.core.case import Case, Finding, ModelUsage, QualityFlag, Verification
from explainmyxray.core.results import atomic_write_bytes
from explainmyxray.report.ontology import display_name

from .case_files import IMAGE_FILE, ORIGINAL_MAX_SIDE, OVERLAY_FILE
from .case_summary import case_status, missing_report_reasons, report_missing
from .images import data_uri, file_data_uri, fit, pixels_to_image
from .overlay import LegendEntry, legend_entries, render_overlay
from .style import STATUS_COLORS, VERDICT_COLORS, text_on, to_rgb

INDEX_FILE = "index.html"
_DASH = '<span class="muted">—</span>'
OVERLAY_MAX_SIDE = 1400

_CSS = """
:root { --fg:#1c2024; --muted:#60646c; --line:#e1e4e8; --bg:#f6f7f9; --card:#fff;
  --red:#d1242f; --red-bg:#fff0f0; --amber:#9a6700; --amber-bg:#fff8e1; --green:#1a7f37; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--fg);
  font:15px/1.5 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", "DejaVu Sans", Arial,
  sans-serif; }
main { max-width:1320px; margin:0 auto; padding:28px 28px 64px; }
h1 { font-size:26px; margin:0 0 4px; letter-spacing:-0.01em; }
h2 { font-size:20px; margin:0; }
h3 { font-size:13px; text-transform:uppercase; letter-spacing:.06em; color:var(--muted);
  margin:22px 0 8px; }
h3:first-child { margin-top:0; }
h3 .muted { text-transform:none; letter-spacing:0; font-weight:400; }
h4 { font-size:14px; margin:14px 0 6px; }
.meta { color:var(--muted); margin:0 0 20px; }
.cards { display:grid; grid-template-columns:repeat(auto-fit, minmax(150px, 1fr)); gap:12px;
  margin-bottom:18px; }
.stat { background:var(--card); border:1px solid var(--line); border-radius:10px;
  padding:12px 16px; }
.stat .n { font-size:28px; font-weight:700; line-height:1.2; }
.stat .l { color:var(--muted); font-size:13px; }
.stat.bad .n { color:var(--red); } .stat.warn .n { color:var(--amber); }
.stat.good .n { color:var(--green); }
table { width:100%; border-collapse:collapse; background:var(--card); font-size:14px; }
th, td { text-align:left; padding:7px 10px; border-bottom:1px solid var(--line);
  vertical-align:top; }
th { font-size:12px; text-transform:uppercase; letter-spacing:.04em; color:var(--muted);
  font-weight:600; background:#fafbfc; }
tr:last-child td { border-bottom:none; }
.tablewrap { border:1px solid var(--line); border-radius:10px; overflow:hidden; }
a { color:#0b5cad; text-decoration:none; } a:hover { text-decoration:underline; }
.case { background:var(--card); border:1px solid var(--line); border-radius:14px; padding:22px 24px;
  margin-top:26px; box-shadow:0 1px 2px rgba(0,0,0,.04); }
.case.failed { border-color:#f1aeb5; box-shadow:inset 4px 0 0 var(--red); }
.case-head { display:flex; flex-wrap:wrap; align-items:center; gap:10px; margin-bottom:4px; }
.source { color:var(--muted); font-size:13px; margin-bottom:14px; word-break:break-all; }
.chip { display:inline-block; padding:1px 9px; border-radius:999px; font-size:12px; font-weight:600;
  line-height:1.6; white-space:nowrap; }
.chip.ok { background:#dafbe1; color:#116329; }
.chip.flagged { background:var(--amber-bg); color:var(--amber); border:1px solid #f2d48a; }
.chip.failed { background:var(--red); color:#fff; }
.chip.plain { background:#eef0f3; color:#3d434b; }
.errors { background:var(--red-bg); border:1px solid #f1aeb5; border-radius:10px; padding:10px 14px;
  margin:10px 0 16px; color:var(--red); }
.errors strong { color:var(--red); }
.errors ul { margin:4px 0 0; padding-left:20px; }
.errors code { background:rgba(209,36,47,.08); color:var(--red); }
.figures { display:grid; grid-template-columns:minmax(0, 2fr) minmax(0, 3fr); gap:16px;
  align-items:start; }
figure { margin:0; }
figure img { display:block; width:100%; height:auto; border-radius:8px; background:#111; }
figcaption { color:var(--muted); font-size:13px; margin-top:6px; }
.noimage { grid-column:1 / -1; display:flex; align-items:center; justify-content:center;
  min-height:120px;
  background:#f0f1f3; border:1px dashed #c8ccd2; border-radius:8px; color:var(--muted);
  padding:16px; text-align:center; }
.noimage.bad { color:var(--red); border-color:#f1aeb5; background:var(--red-bg); }
.columns { display:grid; grid-template-columns:minmax(0, 3fr) minmax(0, 2fr); gap:28px;
  margin-top:22px; }
.notice { border-radius:10px; padding:10px 14px; margin:6px 0; }
.notice.warn { background:var(--amber-bg); border:1px solid #f2d48a; color:#6b4c00; }
.notice.none { background:#f3f4f6; border:1px solid var(--line); }
.notice ul { margin:4px 0 0; padding-left:20px; }
.impression { font-size:15px; background:#f7f9fc; border-left:3px solid #0b5cad; padding:8px 12px;
  border-radius:0 8px 8px 0; margin:0; }
.num { display:inline-block; min-width:22px; padding:0 5px; border-radius:5px; text-align:center;
  font-weight:700; font-size:12px; line-height:20px; }
.sw { display:inline-block; width:11px; height:11px; border-radius:3px; margin-right:6px;
  vertical-align:-1px; border:1px solid rgba(0,0,0,.25); }
.muted { color:var(--muted); } .small { font-size:13px; }
.evidence { color:#3d434b; font-size:13px; }
pre { white-space:pre-wrap; background:#f6f8fa; border:1px solid var(--line); border-radius:8px;
  padding:10px 12px; font-size:13px; margin:6px 0 0; }
code { font:12px/1.4 ui-monospace, "DejaVu Sans Mono", Menlo, monospace; background:#f1f3f5;
  padding:1px 5px; border-radius:4px; }
details summary { cursor:pointer; color:var(--muted); font-size:13px; margin-top:14px; }
.empty { color:var(--muted); font-style:italic; }
td.red, span.red { color:var(--red); font-weight:600; }
@media (max-width: 900px) { .figures, .columns { grid-template-columns:1fr; } }
@media print { body { background:#fff; } .case { break-inside:avoid-page; box-shadow:none; } }
"""


def write_index(run_dir: Path, cases: Sequence[Case], *, title: str, pipeline_name: str) -> Path:
    """Write ``run_dir/index.html`` for ``cases`` (atomically) and return its path."""
    document = render_index(cases, title=title, pipeline_name=pipeline_name, run_dir=run_dir)
    path = Path(run_dir) / INDEX_FILE
    atomic_write_bytes(path, document.encode("utf-8"))
    return path


def render_index(
    cases: Sequence[Case], *, title: str, pipeline_name: str, run_dir: Path | None = None
) -> str:
    """The ``index.html`` document as a string.

    A case whose pixels are no longer in memory (finished in an earlier batch or an earlier run)
    is shown from the ``image.jpg`` and ``overlay.png`` written in its folder under ``run_dir``.
    """
    generated = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">Pipeline <strong>{_e(pipeline_name)}</strong> · {len(cases)} '
        f"case{'s' if len(cases) != 1 else ''} · generated {_e(generated)}</p>",
        _summary(cases),
    ]
    parts.extend(
        _case_section(index, case, Path(run_dir) / "cases" / case.id if run_dir else None)
        for index, case in enumerate(cases, start=1)
    )
    parts.append("</main></body></html>\n")
    return "\n".join(parts)


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _anchor(index: int) -> str:
    return f"case-{index}"


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _chip(text: str, color: str) -> str:
    fg = _hex(text_on(to_rgb(color)))
    return f'<span class="chip" style="background:{color};color:{fg}">{_e(text)}</span>'


def _status_chip(status: str | None) -> str:
    label = status or "not in report"
    return _chip(label, STATUS_COLORS.get(label, "#6b7280"))


def _number(value: float | str | None, digits: int = 3) -> str:
    if value is None:
        return '<span class="muted">n/a</span>'
    if isinstance(value, float):
        return _e(f"{value:.{digits}g}")
    return _e(value)


# --- summary -------------------------------------------------------------------------------


def _summary(cases: Sequence[Case]) -> str:
    failed = sum(case.failed for case in cases)
    flagged = sum(case_status(case) == "flagged" for case in cases)
    with_flags = sum(bool(case.quality) for case in cases)
    present = sum(len(case.report.present()) for case in cases if case.report)
    no_report = sum(report_missing(case) for case in cases)
    cards = [
        ("Cases", len(cases), ""),
        ("Completed", len(cases) - failed, "good" if not failed and cases else ""),
        ("Failed", failed, "bad" if failed else ""),
        ("Cases with quality flags", with_flags, "warn" if with_flags else ""),
        ("Findings present", present, ""),
        ("Without a report", no_report, "warn" if no_report else ""),
    ]
    html = ['<section class="summary"><div class="cards">']
    for label, value, tone in cards:
        html.append(
            f'<div class="stat {tone}"><div class="n">{value}</div><div class="l">{_e(label)}</div>'
            "</div>"
        )
    html.append("</div>")
    codes = Counter(flag.code for case in cases for flag in case.quality)
    if codes:
        listing = ", ".join(f"<code>{_e(code)}</code> ×{n}" for code, n in codes.most_common())
        plural = "s" if flagged != 1 else ""
        html.append(
            f'<p class="small">Quality flags: {listing} ({flagged} case{plural} flagged at '
            "warning level or above)</p>"
        )
    html.append(
        '<div class="tablewrap"><table><thead><tr><th>#</th><th>Case</th><th>Status</th>'
        "<th>Findings</th><th>Quality flags</th><th>Verification</th><th>Scores</th>"
        "<th>Errors</th></tr></thead><tbody>"
    )
    for index, case in enumerate(cases, start=1):
        html.append(_summary_row(index, case))
    if not cases:
        html.append('<tr><td colspan="8" class="empty">No cases in this run.</td></tr>')
    html.append("</tbody></table></div></section>")
    return "".join(html)


def _summary_row(index: int, case: Case) -> str:
    status = case_status(case)
    if report_missing(case):
        findings = '<span class="muted">no report</span>'
    else:
        counts = Counter(f.status for f in case.report.findings)  # type: ignore[union-attr]
        shown = [f"{counts[s]} {s}" for s in ("present", "uncertain", "absent") if counts[s]]
        findings = _e(", ".join(shown) or "none")
    flags = ", ".join(f"<code>{_e(flag.code)}</code>" for flag in case.quality) or (
        '<span class="muted">none</span>'
    )
    agreements = [v.agreement for v in case.verification if v.agreement is not None]
    verification = _e(f"{100 * min(agreements):.0f}% agree") if agreements else _DASH
    scores = (
        "<br>".join(f"{_e(score.metric)} {_number(score.value)}" for score in case.scores) or _DASH
    )
    errors = (
        "<br>".join(
            f'<span class="red">{_e(error.stage)}: {_e(error.error_type)}</span>'
            for error in case.errors
        )
        or _DASH
    )
    return (
        f'<tr><td>{index}</td><td><a href="#{_anchor(index)}">{_e(case.id)}</a></td>'
        f'<td><span class="chip {status}">{status}</span></td><td>{findings}</td>'
        f"<td>{flags}</td><td>{verification}</td><td>{scores}</td><td>{errors}</td></tr>"
    )


# --- one case ------------------------------------------------------------------------------


def _case_section(index: int, case: Case, case_dir: Path | None = None) -> str:
    status = case_status(case)
    entries = {e.label.strip().lower(): e for e in legend_entries(case)}
    html = [
        f'<section class="case {status}" id="{_anchor(index)}">',
        f'<div class="case-head"><h2>{_e(case.id)}</h2>'
        f'<span class="chip {status}">{status}</span></div>',
        f'<div class="source">{_e(PurePath(case.source).name or case.source)}</div>',
    ]
    if case.errors:
        html.append(_errors(case))
    html.append(_figures(case, case_dir))
    html.append('<div class="columns"><div>')
    html.append(_report(case, entries))
    html.append("</div><div>")
    html.append(_quality(case.quality))
    html.append(_verification(case.verification))
    html.append(_scores(case))
    html.append(_retrieved(case))
    html.append("</div></div>")
    html.append(_provenance(case))
    html.append("</section>")
    return "\n".join(html)


def _errors(case: Case) -> str:
    items = "".join(
        f"<li><strong>{_e(e.stage)}</strong> stage, plugin <code>{_e(e.plugin)}</code>: "
        f"<strong>{_e(e.error_type)}</strong>: {_e(e.message)}</li>"
        for e in case.errors
    )
    count = len(case.errors)
    return (
        f'<div class="errors"><strong>This case failed ({count} error{"s" if count > 1 else ""})'
        f"</strong><ul>{items}</ul></div>"
    )


def _figures_from_files(case: Case, case_dir: Path) -> str | None:
    original, overlay = case_dir / IMAGE_FILE, case_dir / OVERLAY_FILE
    if not original.is_file():
        return None
    html = [
        '<div class="figures"><figure>',
        f'<img alt="original radiograph of {_e(case.id)}" '
        f'src="{file_data_uri(original, ORIGINAL_MAX_SIDE, quality=85)}">',
        "<figcaption>Original</figcaption></figure><figure>",
    ]
    if overlay.is_file():
        html.append(
            f'<img alt="overlay of {_e(case.id)}" '
            f'src="{file_data_uri(overlay, OVERLAY_MAX_SIDE, quality=88)}">'
            "<figcaption>Overlay · regions that ground each finding</figcaption>"
        )
    else:
        html.append('<div class="noimage">No overlay was written for this case.</div>')
    html.append("</figure></div>")
    return "".join(html)


def _figures(case: Case, case_dir: Path | None = None) -> str:
    image = case.image
    if image is not None and image.pixels is None and case_dir is not None:
        from_files = _figures_from_files(case, case_dir)
        if from_files is not None:
            return from_files
    if image is None or image.pixels is None:
        reason = (
            "No image: the radiograph could not be decoded."
            if image is None
            else "The image pixels are not in memory for this case."
        )
        tone = "bad" if case.failed else ""
        return f'<div class="figures"><div class="noimage {tone}">{_e(reason)}</div></div>'
    try:
        original = pixels_to_image(image.pixels)
    except ValueError as exc:
        return (
            '<div class="figures"><div class="noimage bad">The image cannot be shown: '
            f"{_e(exc)}</div></div>"
        )
    caption = f"Original · {original.width}×{original.height} px"
    if image.view_position:
        caption += f" · {image.view_position}"
    html = [
        '<div class="figures"><figure>',
        f'<img alt="original radiograph of {_e(case.id)}" '
        f'src="{data_uri(fit(original, ORIGINAL_MAX_SIDE), quality=85)}">',
        f"<figcaption>{_e(caption)}</figcaption></figure><figure>",
    ]
    try:
        overlay = render_overlay(case)
    except Exception as exc:  # one bad overlay must not cost the whole run its index
        html.append(
            f'<div class="noimage bad">The overlay could not be drawn: '
            f"{_e(type(exc).__name__)}: {_e(exc)}</div>"
        )
    else:
        html.append(
            f'<img alt="overlay of {_e(case.id)}" '
            f'src="{data_uri(fit(overlay, OVERLAY_MAX_SIDE), quality=88)}">'
            "<figcaption>Overlay · regions that ground each finding</figcaption>"
        )
    html.append("</figure></div>")
    return "".join(html)


def _region_list(entry: LegendEntry | None) -> str:
    if entry is None or not entry.regions:
        return _DASH
    return "<br>".join(
        f'<span class="sw" style="background:{_hex(r.color)}"></span>{_e(r.name)}'
        for r in entry.regions
    )


def _number_badge(entry: LegendEntry | None) -> str:
    if entry is None or entry.number is None:
        return ""
    color = entry.regions[0].color
    return (
        f'<span class="num" style="background:{_hex(color)};color:{_hex(text_on(color))}">'
        f"{entry.number}</span>"
    )


def _report(case: Case, entries: dict[str, LegendEntry]) -> str:
    report = case.report
    source = f' <span class="muted small">· source: {_e(report.source)}</span>' if report else ""
    html = [f"<h3>Report{source}</h3>"]
    if report_missing(case):
        reasons = "".join(f"<li>{_e(reason)}</li>" for reason in missing_report_reasons(case))
        html.append(
            f'<div class="notice none"><strong>No report was generated.</strong> Why:'
            f"<ul>{reasons}</ul></div>"
        )
        return "".join(html)
    assert report is not None
    html.append("<h4>Findings</h4>")
    html.append(_findings_table(report.findings, entries))
    html.append("<h4>Locations</h4>")
    html.append(_locations_table(report.findings, entries))
    html.append("<h4>Impression</h4>")
    if report.impression.strip():
        html.append(f'<p class="impression">{_e(report.impression)}</p>')
    else:
        html.append('<p class="empty">No impression.</p>')
    if report.warnings:
        items = "".join(f"<li>{_e(w)}</li>" for w in report.warnings)
        html.append(
            f'<div class="notice warn"><strong>Report warnings</strong><ul>{items}</ul></div>'
        )
    if report.text:
        html.append(
            f"<details><summary>Report text</summary><pre>{_e(report.text)}</pre></details>"
        )
    return "".join(html)


def _findings_table(findings: Iterable[Finding], entries: dict[str, LegendEntry]) -> str:
    rows = []
    for finding in findings:
        entry = entries.get(finding.label.strip().lower())
        confidence = _number(finding.confidence, 2) if finding.confidence is not None else "—"
        evidence = (
            f'<div class="evidence">“{_e(finding.evidence)}”</div>' if finding.evidence else ""
        )
        unknown = (
            ' <span class="chip plain" title="not in the PadChest vocabulary">unlisted</span>'
            if not finding.known
            else ""
        )
        rows.append(
            f"<tr><td>{_number_badge(entry)}</td>"
            f"<td><strong>{_e(display_name(finding.label))}</strong>"
            f"{unknown}{evidence}</td><td>{_status_chip(finding.status)}</td>"
            f"<td>{confidence}</td></tr>"
        )
    if not rows:
        rows.append('<tr><td colspan="4" class="empty">The report lists no findings.</td></tr>')
    return (
        '<div class="tablewrap"><table><thead><tr><th style="width:36px"></th><th>Finding</th>'
        "<th>Status</th><th>Confidence</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div>"
    )


def _locations_table(findings: Iterable[Finding], entries: dict[str, LegendEntry]) -> str:
    rows = []
    for finding in findings:
        entry = entries.get(finding.label.strip().lower())
        locations = ", ".join(finding.locations)
        note = f'<div class="muted small">{_e(entry.note)}</div>' if entry and entry.note else ""
        rows.append(
            f"<tr><td>{_number_badge(entry)}</td><td>{_e(display_name(finding.label))}</td>"
            f"<td>{_e(locations) if locations else _DASH}</td>"
            f"<td>{_region_list(entry)}{note}</td></tr>"
        )
    if not rows:
        return '<p class="empty">No locations.</p>'
    return (
        '<div class="tablewrap"><table><thead><tr><th style="width:36px"></th><th>Finding</th>'
        "<th>Locations (report)</th><th>Regions (image)</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div>"
    )


def _quality(flags: Sequence[QualityFlag]) -> str:
    html = ["<h3>Quality</h3>"]
    if not flags:
        html.append('<p class="empty">No quality flags.</p>')
        return "".join(html)
    severity_colors = {"info": "#6b7280", "warning": "#f5a524", "error": "#d1242f"}
    rows = "".join(
        f"<tr><td><code>{_e(f.code)}</code><div class='small'>{_e(f.message)}</div></td>"
        f"<td>{_number(f.value)}</td><td>{_number(f.threshold)}</td>"
        f"<td>{_chip(f.severity, severity_colors.get(f.severity, '#6b7280'))}</td></tr>"
        for f in flags
    )
    html.append(
        '<div class="tablewrap"><table><thead><tr><th>Flag</th><th>Value</th><th>Threshold</th>'
        f"<th>Severity</th></tr></thead><tbody>{rows}</tbody></table></div>"
    )
    return "".join(html)


def _verification(verifications: Sequence[Verification]) -> str:
    html = ["<h3>Verification</h3>"]
    if not verifications:
        html.append('<p class="empty">Not verified.</p>')
        return "".join(html)
    for verification in verifications:
        agreement = verification.agreement
        share = f"{100 * agreement:.0f}% agree" if agreement is not None else "nothing to compare"
        html.append(
            f"<h4>{_e(verification.verifier)} <span class='muted small'>· {_e(share)}</span></h4>"
        )
        rows = "".join(
            f"<tr><td>{_e(display_name(v.label))}</td>"
            f"<td>{_chip(v.verdict.replace('_', ' '), VERDICT_COLORS.get(v.verdict, '#6b7280'))}"
            f"</td><td>{_e(v.reported_status or '—')} → {_e(v.verifier_status or '—')}"
            f"{f'<div class=small>{_e(v.detail)}</div>' if v.detail else ''}</td></tr>"
            for v in verification.verdicts
        )
        if rows:
            html.append(
                '<div class="tablewrap"><table><thead><tr><th>Finding</th><th>Verdict</th>'
                f"<th>Report → verifier</th></tr></thead><tbody>{rows}</tbody></table></div>"
            )
        for name, labels, tone in (
            ("Hallucinated", verification.hallucinated, "#e03131"),
            ("Dropped", verification.dropped, "#e8590c"),
        ):
            if labels:
                chips = " ".join(_chip(label, tone) for label in labels)
                html.append(f'<p class="small"><strong>{name}:</strong> {chips}</p>')
    return "".join(html)


def _scores(case: Case) -> str:
    html = ["<h3>Scores</h3>"]
    if not case.scores:
        html.append('<p class="empty">No scores.</p>')
        return "".join(html)
    rows = "".join(
        f"<tr><td>{_e(s.metric)}</td><td><strong>{_number(s.value)}</strong></td>"
        f"<td class='small muted'>"
        f"{_e(', '.join(f'{k}={v}' for k, v in s.details.items())) or '—'}</td></tr>"
        for s in case.scores
    )
    html.append(
        '<div class="tablewrap"><table><thead><tr><th>Metric</th><th>Value</th><th>Details</th>'
        f"</tr></thead><tbody>{rows}</tbody></table></div>"
    )
    return "".join(html)


def _retrieved(case: Case) -> str:
    if not case.retrieved:
        return ""
    rows = "".join(
        f"<tr><td>{_e(r.id)}</td><td>{_number(r.score)}</td>"
        f"<td class='small'>{_e(', '.join(r.labels)) or '—'}</td></tr>"
        for r in case.retrieved
    )
    return (
        "<h3>Similar cases</h3>"
        '<div class="tablewrap"><table><thead><tr><th>Case</th><th>Similarity</th><th>Labels</th>'
        f"</tr></thead><tbody>{rows}</tbody></table></div>"
    )


def _models(models: Sequence[ModelUsage]) -> str:
    return _e(", ".join(f"{m.name} ({m.precision}, {m.device})" for m in models)) or "—"


def _provenance(case: Case) -> str:
    if not case.provenance:
        return ""
    rows = "".join(
        f"<tr><td>{_e(p.stage)}</td><td><code>{_e(p.plugin)}</code> "
        f"<span class='muted'>{_e(p.plugin_version or '')}</span></td>"
        f"<td>{p.seconds:.2f} s</td>"
        f"<td class='small'>{_models(p.models)}</td></tr>"
        for p in case.provenance
    )
    return (
        "<details><summary>Provenance: stages, plugins, models, timings</summary>"
        '<div class="tablewrap"><table><thead><tr><th>Stage</th><th>Plugin</th><th>Time</th>'
        f"<th>Models</th></tr></thead><tbody>{rows}</tbody></table></div></details>"
    )
