"""One ``index.html`` per run: every case, readable offline in any browser.

Nothing is loaded from the network: a Content-Security-Policy allows only the page's own inline
script (by hash) and images from the page's folder or ``data:`` URIs. A small run embeds its images
(one self-contained file); a larger one links the ``image.jpg`` written beside each case's
``report.json`` instead of embedding hundreds of images. Every piece of text from a case is
escaped. Each case shows an interactive radiograph (:mod:`.viewer`): zoom, pan, window/level,
every finding and region toggled and highlighted from its row.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Sequence
from html import escape
from pathlib import Path, PurePath

from explainmyxray.core.case import Case, Finding, QualityFlag, Verification
from explainmyxray.core.results import atomic_write_bytes
from explainmyxray.report.ontology import display_name

from .case_files import IMAGE_FILE, ORIGINAL_MAX_SIDE, OVERLAY_FILE
from .case_summary import case_status, missing_report_reasons, report_missing
from .disagreements import Disagreement, disagreements, read_reference
from .images import data_uri, file_data_uri, fit, pixels_to_image
from .overlay import LegendEntry, legend_entries
from .style import STATUS_COLORS, VERDICT_COLORS, text_on, to_rgb
from .viewer import render_viewer, script

INDEX_FILE = "index.html"
_DASH = '<span class="muted">—</span>'
EMBED_MAX_CASES = 12
"""Runs of up to this many cases embed their images (one file to share); larger runs link the
images written beside each case."""

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
.figures { display:grid; grid-template-columns:minmax(0, 3fr) minmax(0, 2fr); gap:20px;
  align-items:start; }
figure { margin:0; }
.case-head h2 { overflow-wrap:anywhere; }
.viewer { background:#0b0c0e; border-radius:10px; padding:0; overflow:hidden; }
.toolbar { display:flex; flex-wrap:wrap; gap:6px 14px; align-items:center; padding:7px 10px;
  background:#17191e; color:#d5d9de; font-size:12px; }
.toolbar .group { display:inline-flex; gap:6px; align-items:center; }
.toolbar button { background:#2a2e36; color:#eef0f3; border:1px solid #3b404a; border-radius:6px;
  font:inherit; padding:2px 9px; cursor:pointer; }
.toolbar button:hover { background:#3b404a; }
.toolbar input[type=range] { width:90px; vertical-align:middle; }
.toolbar label { white-space:nowrap; }
.zoom-readout, .wl-readout { font-variant-numeric:tabular-nums; color:#aab1bb; min-width:44px; }
.stage { position:relative; overflow:hidden; width:100%; background:#000; touch-action:none; }
.pz { position:relative; width:100%; height:100%; transform-origin:0 0; }
.pz img.xr { display:block; width:100%; height:100%; user-select:none; -webkit-user-drag:none; }
svg.ov { position:absolute; inset:0; width:100%; height:100%; overflow:visible;
  pointer-events:none; }
svg.ov rect { fill:none; stroke-width:var(--lw); vector-effect:non-scaling-stroke; }
svg.ov .f rect.box, svg.ov .a rect { pointer-events:stroke; }
svg.ov .f .label { pointer-events:all; }
svg.ov .f rect.box { stroke-width:calc(var(--lw) * 1.6); }
svg.ov text { font-family:"DejaVu Sans Mono", Menlo, Consolas, monospace; font-weight:700; }
svg.ov .label-bg { fill:rgba(14,16,20,.86); stroke:none; }
svg.ov .label rect { stroke:none; }
svg.ov .a rect { stroke-dasharray:4 3; opacity:.85; }
svg.ov .a text { paint-order:stroke; stroke:#000; stroke-width:3px; font-weight:400; }
svg.ov .ref rect { stroke:#fff; stroke-dasharray:10 5; stroke-width:calc(var(--lw) * 1.4); }
svg.ov .ref rect.halo { stroke:#000; stroke-dasharray:none; stroke-width:calc(var(--lw) * 3);
  opacity:.7; }
svg.ov .ref text { fill:#fff; paint-order:stroke; stroke:#000; stroke-width:3px; }
svg.ov .off, svg.ov .layer-off { display:none; }
.viewer.focus svg.ov .f:not(.hl), .viewer.focus svg.ov .a:not(.hl) { opacity:.18; }
svg.ov .hl rect.box, svg.ov .a.hl rect { stroke-width:calc(var(--lw) * 3); }
svg.ov .a.hl { display:inline; }
tr.hl td { background:#fff6d6; }
table.findings tr[data-f], .regions tr[data-r] { cursor:pointer; }
.hud { position:absolute; inset:0; pointer-events:none; color:#fff;
  font:700 15px/1 "DejaVu Sans", Arial, sans-serif; }
.hud .side { position:absolute; top:50%; transform:translateY(-50%); padding:3px 6px;
  background:rgba(0,0,0,.55); border-radius:4px; font-size:17px; }
.hud .side.left { left:6px; } .hud .side.right { right:6px; }
.hud .view { position:absolute; right:6px; bottom:6px; font-size:12px; padding:2px 6px;
  background:rgba(0,0,0,.55); border-radius:4px; }
.hud .qflags { position:absolute; left:6px; top:6px; margin:0; padding:0; list-style:none; }
.hud .qflags li { font-size:11px; font-weight:600; padding:2px 6px; margin-bottom:3px;
  background:rgba(0,0,0,.6); border-left:3px solid; border-radius:3px; }
.disagreements h3 { color:var(--red); }
.disagreements .tablewrap { border-color:#f1aeb5; margin-bottom:14px; }
table.facts th { width:160px; text-transform:none; letter-spacing:0; font-size:13px; }
svg.filters { position:absolute; width:0; height:0; }
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
@media (max-width: 1000px) { .figures, .columns { grid-template-columns:1fr; } }
@media print { body { background:#fff; } .case { break-inside:avoid-page; box-shadow:none; } }
"""


def write_index(
    run_dir: Path,
    cases: Sequence[Case],
    *,
    title: str,
    pipeline_name: str,
    provenance: dict | None = None,
    embed_images: bool | None = None,
) -> Path:
    """Write ``run_dir/index.html`` for ``cases`` (atomically) and return its path."""
    document = render_index(
        cases,
        title=title,
        pipeline_name=pipeline_name,
        run_dir=run_dir,
        provenance=provenance,
        embed_images=embed_images,
    )
    path = Path(run_dir) / INDEX_FILE
    atomic_write_bytes(path, document.encode("utf-8"))
    return path


def rewrite_index(run_dir: Path) -> Path:
    """Render ``index.html`` again from the run's files (after ``eval`` added references)."""
    from explainmyxray.scoring.evaluate import load_run_cases

    run_dir = Path(run_dir)
    try:
        manifest = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = {}
    name = str((manifest.get("pipeline") or {}).get("name") or "run")
    return write_index(
        run_dir,
        load_run_cases(run_dir),
        title=f"ExplainMyXray — {name}",
        pipeline_name=name,
        provenance=manifest.get("provenance"),
    )


def render_index(
    cases: Sequence[Case],
    *,
    title: str,
    pipeline_name: str,
    run_dir: Path | None = None,
    provenance: dict | None = None,
    embed_images: bool | None = None,
) -> str:
    """The ``index.html`` document as a string.

    A case whose pixels are no longer in memory (finished in an earlier batch or an earlier run)
    is shown from the ``image.jpg`` written in its folder under ``run_dir``. Images are embedded
    when ``embed_images`` says so, by default for runs of up to :data:`EMBED_MAX_CASES` cases.
    """
    generated = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    if embed_images is None:
        embed_images = len(cases) <= EMBED_MAX_CASES
    embed = run_dir is None or embed_images
    folders = [Path(run_dir) / "cases" / case.id if run_dir else None for case in cases]
    references = [read_reference(folder) for folder in folders]
    found = [disagreements(case, ref) for case, ref in zip(cases, references, strict=True)]
    code = script()
    digest = base64.b64encode(hashlib.sha256(code.encode("utf-8")).digest()).decode("ascii")
    policy = (
        "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
        f"script-src 'sha256-{digest}'; base-uri 'none'; form-action 'none'"
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{policy}">',
        '<meta name="referrer" content="no-referrer">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">Pipeline <strong>{_e(pipeline_name)}</strong> · {len(cases)} '
        f"case{'s' if len(cases) != 1 else ''} · generated {_e(generated)}</p>",
        _summary(cases, found),
        _run_provenance(provenance),
    ]
    parts.extend(
        _case_section(index, case, folder, embed, reference, disagreed, provenance)
        for index, (case, folder, reference, disagreed) in enumerate(
            zip(cases, folders, references, found, strict=True), start=1
        )
    )
    parts.append(f"</main><script>{code}</script></body></html>\n")
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


def _summary(cases: Sequence[Case], found: Sequence[Sequence[Disagreement]]) -> str:
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
        ("Cases with disagreements", sum(bool(d) for d in found), "bad" if any(found) else ""),
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
        "<th>Disagreements</th><th>Findings</th><th>Quality flags</th><th>Verification</th>"
        "<th>Scores</th><th>Errors</th></tr></thead><tbody>"
    )
    order = sorted(range(len(cases)), key=lambda i: (-len(found[i]), i))
    for i in order:
        html.append(_summary_row(i + 1, cases[i], found[i]))
    if not cases:
        html.append('<tr><td colspan="9" class="empty">No cases in this run.</td></tr>')
    html.append("</tbody></table></div></section>")
    return "".join(html)


def _summary_row(index: int, case: Case, found: Sequence[Disagreement]) -> str:
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
        f'<td><span class="chip {status}">{status}</span></td>'
        f'<td class="disagree-count">{_disagree_cell(found)}</td><td>{findings}</td>'
        f"<td>{flags}</td><td>{verification}</td><td>{scores}</td><td>{errors}</td></tr>"
    )


def _disagree_cell(found: Sequence[Disagreement]) -> str:
    if not found:
        return '<span class="muted">none</span>'
    labels = ", ".join(sorted({d.finding for d in found}))
    return f'<span class="red">{len(found)}</span> <span class="small">{_e(labels)}</span>'


# --- one case ------------------------------------------------------------------------------


def _case_section(
    index: int,
    case: Case,
    case_dir: Path | None = None,
    embed: bool = True,
    reference: dict | None = None,
    found: Sequence[Disagreement] = (),
    run_provenance: dict | None = None,
) -> str:
    status = case_status(case)
    legend = legend_entries(case)
    entries = {e.label.strip().lower(): e for e in legend}
    html = [
        f'<section class="case {status}" id="{_anchor(index)}">',
        f'<div class="case-head"><h2>{_e(case.id)}</h2>'
        f'<span class="chip {status}">{status}</span>'
        + (
            f'<span class="chip failed">{len(found)} disagreement'
            f"{'s' if len(found) != 1 else ''}</span>"
            if found
            else ""
        )
        + "</div>",
        f'<div class="source">{_e(PurePath(case.source).name or case.source)}</div>',
    ]
    if case.errors:
        html.append(_errors(case))
    html.append(_disagreements(found))
    html.append('<div class="figures">')
    html.append(_figure(index, case, case_dir, embed, legend, reference))
    html.append('<div class="side">')
    html.append(_report(case, entries))
    html.append(_regions_table(case))
    html.append("</div></div>")
    html.append('<div class="columns"><div>')
    html.append(_unmapped(case))
    html.append(_quality(case.quality))
    html.append(_scores(case))
    html.append("</div><div>")
    html.append(_verification(case.verification))
    html.append(_retrieved(case))
    html.append("</div></div>")
    html.append(_provenance(case, run_provenance))
    html.append("</section>")
    return "\n".join(html)


def _disagreements(found: Sequence[Disagreement]) -> str:
    if not found:
        return ""
    rows = "".join(
        f"<tr><td><strong>{_e(d.finding)}</strong></td><td>{_e(d.between)}</td>"
        f"<td>{_e(d.detail)}</td></tr>"
        for d in found
    )
    return (
        '<div class="disagreements"><h3>Disagreements — look here first</h3>'
        '<div class="tablewrap"><table><thead><tr><th>Finding</th><th>Between</th>'
        f"<th>What differs</th></tr></thead><tbody>{rows}</tbody></table></div></div>"
    )


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


def _image_source(case: Case, case_dir: Path | None, embed: bool) -> tuple[str, str] | str:
    """(src, how) of the radiograph to show, or the reason there is none."""
    image = case.image
    on_disk = case_dir / IMAGE_FILE if case_dir is not None else None
    if on_disk is not None and on_disk.is_file():
        if not embed:
            return f"cases/{case.id}/{IMAGE_FILE}", "file"
        return file_data_uri(on_disk, ORIGINAL_MAX_SIDE, quality=90), "embedded"
    if image is None:
        return "No image: the radiograph could not be decoded."
    if image.pixels is None:
        return "The image pixels are not in memory and no image file was written for this case."
    try:
        shown = fit(pixels_to_image(image.pixels), ORIGINAL_MAX_SIDE)
    except ValueError as exc:
        return f"The image cannot be shown: {exc}"
    return data_uri(shown, quality=90), "embedded"


def _figure(
    index: int,
    case: Case,
    case_dir: Path | None,
    embed: bool,
    legend: Sequence[LegendEntry],
    reference: dict | None,
) -> str:
    source = _image_source(case, case_dir, embed)
    if isinstance(source, str):
        tone = "bad" if case.failed else ""
        return f'<div class="noimage {tone}">{_e(source)}</div>'
    assert case.image is not None
    size = (case.image.width, case.image.height)
    caption = f"{size[0]}×{size[1]} px"
    if case.image.view_position:
        caption += f" · {case.image.view_position}"
    caption += " · wheel or +/− to zoom, drag to pan; W/L sliders window the display image"
    overlay = ""
    if case_dir is not None and (case_dir / OVERLAY_FILE).is_file() and not embed:
        overlay = f' · <a href="cases/{_e(case.id)}/{OVERLAY_FILE}">static overlay (PNG)</a>'
    return (
        f"<figure>{render_viewer(index, case, source[0], size, legend, reference)}"
        f"<figcaption>{_e(caption)}{overlay}</figcaption></figure>"
    )


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
        if finding.confidence is not None:
            confidence = _number(finding.confidence, 2)
        else:
            confidence = (
                '<span class="muted" title="this generator gives no confidence for its '
                'findings">not given</span>'
            )
        evidence = (
            f'<div class="evidence">“{_e(finding.evidence)}”</div>' if finding.evidence else ""
        )
        unknown = (
            ' <span class="chip plain" title="not in the PadChest vocabulary">unlisted</span>'
            if not finding.known
            else ""
        )
        drawn = entry is not None and entry.number is not None
        toggle = (
            f'<input type="checkbox" class="tog" data-f="{entry.number}" checked '
            f'aria-label="show {_e(finding.label)} on the image">'
            if drawn
            else ""
        )
        attr = f' data-f="{entry.number}"' if drawn else ""
        rows.append(
            f"<tr{attr}><td>{toggle}</td><td>{_number_badge(entry)}</td>"
            f"<td><strong>{_e(display_name(finding.label))}</strong>"
            f"{unknown}{evidence}</td><td>{_status_chip(finding.status)}</td>"
            f"<td>{confidence}</td></tr>"
        )
    if not rows:
        rows.append('<tr><td colspan="5" class="empty">The report lists no findings.</td></tr>')
    return (
        '<div class="tablewrap"><table class="findings"><thead><tr><th style="width:24px">'
        '</th><th style="width:36px"></th><th>Finding</th><th>Status</th><th>Confidence</th>'
        "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>"
    )


def _regions_table(case: Case) -> str:
    """Every anatomical region, each toggled on the image from its row."""
    if not case.anatomy:
        return ""
    rows = "".join(
        f'<tr data-r="{_e(r.id)}"><td><input type="checkbox" class="tog" data-r="{_e(r.id)}" '
        f'aria-label="show {_e(r.name)} on the image"></td><td><span class="sw" '
        f'style="background:{_e(r.color)}"></span>{_e(r.name)}</td></tr>'
        for r in case.anatomy
    )
    return (
        f'<details class="regions"><summary>Anatomical regions ({len(case.anatomy)}): show on '
        "the image</summary>"
        '<div class="tablewrap"><table><tbody>' + rows + "</tbody></table></div></details>"
    )


def _unmapped(case: Case) -> str:
    """Statements of the report that map to no PadChest finding (shown, never dropped)."""
    statements = list(getattr(case.report, "unmapped", None) or []) if case.report else []
    if not statements:
        return ""
    rows = "".join(
        f"<tr><td>“{_e(getattr(u, 'text', u))}”</td>"
        f"<td class='small muted'>{_e(getattr(u, 'reason', '') or '')}</td></tr>"
        for u in statements
    )
    return (
        f"<h3>Not mapped to a finding <span class='muted'>({len(statements)})</span></h3>"
        '<div class="tablewrap"><table><thead><tr><th>Statement</th><th>Why</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
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


def _provenance(case: Case, run: dict | None = None) -> str:
    """Who produced what: the text's real generator, each step, its models (revision, weights
    fingerprint) and the input's hash."""
    if not case.provenance and not case.metadata:
        return ""
    models = {m["name"]: m for m in (run or {}).get("models", []) if isinstance(m, dict)}
    facts = []
    if case.report is not None:
        facts.append(("Report text from", _report_origin(case)))
    digest = case.metadata.get("input_sha256")
    if digest:
        facts.append(("Input SHA-256", f"<code>{_e(digest)}</code>"))
    head = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in facts)
    rows = []
    for record in case.provenance:
        used = []
        for usage in record.models:
            known = models.get(usage.name, {})
            revision = known.get("revision") or "—"
            weights = known.get("weights_sha256")
            used.append(
                f"{_e(usage.name)} ({_e(usage.precision)}, {_e(usage.device)}) · revision "
                f"<code>{_e(str(revision)[:12])}</code>"
                + (f" · weights <code>{_e(weights[:12])}</code>" if weights else "")
            )
        rows.append(
            f"<tr><td>{_e(record.stage)}</td><td><code>{_e(record.plugin)}</code> "
            f"<span class='muted'>{_e(record.plugin_version or '')}</span></td>"
            f"<td>{record.seconds:.2f} s</td><td class='small'>{'<br>'.join(used) or '—'}</td></tr>"
        )
    return (
        "<details><summary>Provenance: generator, steps, models, revisions, hashes</summary>"
        f'<div class="tablewrap"><table class="facts"><tbody>{head}</tbody></table></div>'
        '<div class="tablewrap"><table><thead><tr><th>Stage</th><th>Plugin</th><th>Time</th>'
        f"<th>Models</th></tr></thead><tbody>{''.join(rows)}</tbody></table></div></details>"
    )


def _report_origin(case: Case) -> str:
    """Which generator wrote the text: the report's own source, and the step when it differs
    (MedGemma's step parsing the supplied report because its weights are absent)."""
    report = case.report
    assert report is not None
    steps = [r.plugin for r in case.provenance if r.stage == "generate"]
    step = steps[-1] if steps else None
    names = {"supplied": "the supplied report (--report or <image>.txt)", "none": "no report"}
    html = f"<strong>{_e(names.get(report.source, report.source))}</strong>"
    if step and step != report.source:
        html += f" — step <code>{_e(step)}</code> ran but did not write it"
        notes = [w for w in report.warnings if "weights" in w]
        if notes:
            html += f": {_e(notes[0])}"
    return html


def _run_provenance(provenance: dict | None) -> str:
    if not provenance:
        return ""
    versions = ", ".join(
        f"{_e(k)} {_e(v)}" for k, v in (provenance.get("versions") or {}).items() if v
    )
    rows = "".join(
        f"<tr><td>{_e(m.get('name'))}</td><td>{_e(m.get('step'))}</td>"
        f"<td>{_e(m.get('hub_id') or 'shipped with its package')}</td>"
        f"<td><code>{_e(m.get('revision') or '—')}</code></td>"
        f"<td><code>{_e((m.get('weights_sha256') or '—')[:16])}</code></td>"
        f"<td class='small'>{_e(m.get('weights') or '—')}</td></tr>"
        for m in provenance.get("models", [])
        if isinstance(m, dict)
    )
    table = (
        '<div class="tablewrap"><table><thead><tr><th>Model</th><th>Step</th><th>Source</th>'
        "<th>Revision</th><th>Weights SHA-256</th><th>Weights</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>"
        if rows
        else '<p class="empty">No model was loaded.</p>'
    )
    return (
        "<details class='runprov'><summary>Run provenance: versions, models, revisions, "
        f"weights</summary><p class='small'>{versions}</p>{table}</details>"
    )
