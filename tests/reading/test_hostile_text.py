"""Property tests of the report parser and the labeler on adversarial text (issue 14, item 6):
no exception other than the project's own, and time that grows linearly with the input."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from explainmyxray.core.errors import ExplainMyXrayError
from explainmyxray.labeler import default_labeler, label_report
from explainmyxray.report.parse import parse_report

PIECES = [
    "no ", "FINDINGS", "IMPRESSION:", " ", "\n", ".", ":", " - ", "(", ")", "?", "**", "1.",
    "left ", "pleural effusion", "not ", "possible ", "cardiomegaly", ",", ";", "and ", "bi",
    "apical", "\t", "#", "->", "XXXX", "é", "\x00", "\u2028",
]  # fmt: skip
hostile = st.lists(st.sampled_from(PIECES) | st.text(max_size=8), max_size=60).map("".join)


@settings(max_examples=200, deadline=None)
@given(hostile)
def test_the_parser_and_labeler_survive_any_text(text: str) -> None:
    try:
        report = parse_report(text)
        label_report(text)
    except ExplainMyXrayError:
        return
    for finding in report.findings:
        if finding.evidence_start is not None:
            assert text[finding.evidence_start : finding.evidence_end] == finding.evidence
    for item in report.unmapped:
        assert text[item.start : item.end] == item.text


def _cpu_seconds(fn, text: str) -> float:
    best = float("inf")
    for _ in range(3):
        default_labeler()._cache.clear()
        default_labeler()._cues.clear()
        started = time.process_time()
        fn(text)
        best = min(best, time.process_time() - started)
    return max(best, 1e-3)


def _benchmark_inputs() -> dict:
    """The hostile inputs of ``benchmarks/text_linearity.py`` (one list for both)."""
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "benchmarks" / "text_linearity.py"
    spec = importlib.util.spec_from_file_location("text_linearity", script)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.HOSTILE


HOSTILE = _benchmark_inputs()


@settings(max_examples=len(HOSTILE), deadline=None)
@given(st.sampled_from(sorted(HOSTILE)))
def test_time_grows_linearly_with_the_input(name: str) -> None:
    # Quadratic handling takes 16x as long on 4x the text; linear about 4x. The margin is wide
    # because the machine is shared.
    small, large = HOSTILE[name](6000), HOSTILE[name](24000)
    for fn in (parse_report, label_report):
        assert _cpu_seconds(fn, large) / _cpu_seconds(fn, small) < 10, (fn.__name__, name)
