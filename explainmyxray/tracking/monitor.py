"""Compare a current run with a reference, signal by signal, and say where the inputs drifted.

Every signal gets one two-sample test (see :mod:`.drift`), its statistic and p-value, the
Holm-adjusted p-value over all signals tested together, the threshold ``alpha`` and a plain
verdict. A signal without enough data on either side is listed as not tested, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, Field

from .drift import TestResult, categorical_test, continuous_test, holm, mmd_test
from .profile import CATEGORICAL, Profile

DEFAULT_ALPHA = 0.05
MIN_SAMPLES = 2
IMAGE_STATISTICS = (
    "mean",
    "std",
    "p05",
    "median",
    "p95",
    "dynamic_range",
    "entropy_bits",
    "aspect_ratio",
    "symmetry",
)
Kind = Literal["categorical", "continuous", "multivariate", "rate"]
Verdict = Literal["drift", "no drift", "not tested"]


class SignalResult(BaseModel):
    name: str
    group: str
    kind: Kind
    n_reference: int
    n_current: int
    test: str | None = None
    statistic: float | None = None
    p_value: float | None = None
    adjusted_p: float | None = None
    threshold: float = DEFAULT_ALPHA
    verdict: Verdict = "not tested"
    note: str = ""
    reference: Any = None
    """What the plots and tables show: category counts, values, or (rows) vectors."""
    current: Any = None

    @property
    def slug(self) -> str:
        return "".join(c if c.isalnum() else "_" for c in f"{self.group}.{self.name}")

    def sentence(self) -> str:
        if self.verdict == "not tested":
            return f"not tested: {self.note}"
        p = f"p = {self.p_value:.4g}, Holm-adjusted {self.adjusted_p:.4g}"
        sign = "<" if self.verdict == "drift" else "≥"
        return f"{self.verdict}: {self.test} {self.statistic:.4g} ({p} {sign} {self.threshold})"


class DriftReport(BaseModel):
    reference: str
    current: str
    alpha: float = DEFAULT_ALPHA
    correction: str = "Holm-Bonferroni (family-wise error rate at alpha over all tested signals)"
    n_reference: int
    n_current: int
    signals: list[SignalResult] = Field(default_factory=list)

    @property
    def drifted(self) -> list[SignalResult]:
        return [s for s in self.signals if s.verdict == "drift"]

    def summary(self) -> dict[str, Any]:
        """The JSON-ready report without the per-case samples (they stay in the profiles)."""
        samples = {"signals": {"__all__": {"reference", "current"}}}
        return self.model_dump(mode="json", exclude=samples)


def _counts(values: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return dict(sorted(out.items()))


def _categorical(name: str, group: str, ref: list[str], cur: list[str], seed: int) -> SignalResult:
    result = SignalResult(
        name=name,
        group=group,
        kind="categorical",
        n_reference=len(ref),
        n_current=len(cur),
        reference=_counts(ref),
        current=_counts(cur),
    )
    if not ref or not cur:
        result.note = "no cases on one side"
        return result
    return _tested(result, categorical_test(ref, cur, seed=seed))


def _rate(name: str, group: str, ref: list[bool], cur: list[bool], seed: int) -> SignalResult:
    result = _categorical(
        name, group, ["yes" if v else "no" for v in ref], ["yes" if v else "no" for v in cur], seed
    )
    result.kind = "rate"
    return result


def _sampled(name: str, group: str, kind: Kind, ref: list, cur: list) -> SignalResult:
    """A signal tested on per-case samples; a note when either side has too few."""
    result = SignalResult(
        name=name,
        group=group,
        kind=kind,
        n_reference=len(ref),
        n_current=len(cur),
        reference=ref,
        current=cur,
    )
    if len(ref) < MIN_SAMPLES or len(cur) < MIN_SAMPLES:
        result.note = f"fewer than {MIN_SAMPLES} values on one side ({len(ref)} vs {len(cur)})"
    return result


def _continuous(name: str, group: str, ref: list[float], cur: list[float]) -> SignalResult:
    result = _sampled(name, group, "continuous", ref, cur)
    return result if result.note else _tested(result, continuous_test(ref, cur))


def _multivariate(
    name: str, group: str, ref: list[list[float]], cur: list[list[float]], seed: int
) -> SignalResult:
    result = _sampled(name, group, "multivariate", ref, cur)
    if result.note:
        return result
    if len({len(v) for v in [*ref, *cur]}) != 1:
        result.note = "the two runs' vectors differ in length (different models or versions)"
        return result
    return _tested(result, mmd_test(np.array(ref), np.array(cur), seed=seed))


def _tested(result: SignalResult, test: TestResult) -> SignalResult:
    result.test, result.statistic, result.p_value = test.test, test.statistic, test.p_value
    return result


def _values(profile: Profile, get: Callable[[Any], Any]) -> list[Any]:
    return [v for case in profile.cases if (v := get(case)) is not None]


def compare(
    reference: Profile,
    current: Profile,
    *,
    reference_name: str = "reference",
    current_name: str = "current",
    alpha: float = DEFAULT_ALPHA,
    seed: int = 0,
) -> DriftReport:
    signals: list[SignalResult] = []
    for name in CATEGORICAL:
        get = lambda c, n=name: c.categorical.get(n)  # noqa: E731
        signals.append(
            _categorical(name, "acquisition", _values(reference, get), _values(current, get), seed)
        )
    for name, group in [("pixel_spacing_mm", "acquisition")] + [
        (n, "image") for n in IMAGE_STATISTICS
    ]:
        get = lambda c, n=name: c.continuous.get(n)  # noqa: E731
        signals.append(_continuous(name, group, _values(reference, get), _values(current, get)))
    appearance = lambda c: c.appearance  # noqa: E731
    signals.append(
        _multivariate(
            "appearance (16x16 thumbnail)",
            "image",
            _values(reference, appearance),
            _values(current, appearance),
            seed,
        )
    )
    for code in sorted({f for p in (reference, current) for c in p.cases for f in c.quality_flags}):
        signals.append(
            _rate(
                code,
                "quality flags",
                [code in c.quality_flags for c in reference.cases],
                [code in c.quality_flags for c in current.cases],
                seed,
            )
        )
    signals.append(_embeddings(reference, current, seed))
    for label in sorted({f for p in (reference, current) for c in p.cases for f in c.findings}):
        signals.append(
            _rate(
                label,
                "finding prevalence",
                [label in c.findings for c in reference.cases if not c.failed],
                [label in c.findings for c in current.cases if not c.failed],
                seed,
            )
        )
    disagree = lambda c: c.verifier_disagrees  # noqa: E731
    signals.append(
        _rate(
            "verifier disagreement",
            "outcomes",
            _values(reference, disagree),
            _values(current, disagree),
            seed,
        )
    )
    signals.append(
        _rate(
            "failure",
            "outcomes",
            [c.failed for c in reference.cases],
            [c.failed for c in current.cases],
            seed,
        )
    )
    tested = [s for s in signals if s.p_value is not None]
    for signal, adjusted in zip(tested, holm([s.p_value for s in tested]), strict=True):
        signal.adjusted_p = adjusted
        signal.threshold = alpha
        signal.verdict = "drift" if adjusted < alpha else "no drift"
    return DriftReport(
        reference=reference_name,
        current=current_name,
        alpha=alpha,
        n_reference=reference.n_cases,
        n_current=current.n_cases,
        signals=signals,
    )


def _embeddings(reference: Profile, current: Profile, seed: int) -> SignalResult:
    model = reference.text_embedding_model or current.text_embedding_model or "MiniLM"
    name = f"report text ({model})"
    ref = reference.text_embeddings or []
    cur = current.text_embeddings or []
    result = _multivariate(name, "embeddings", ref, cur, seed)
    if result.p_value is None and not (ref and cur):
        result.note = "no report-text embeddings in one of the runs (no report texts, or MiniLM "
        result.note += "weights not installed)"
    elif reference.text_embedding_model != current.text_embedding_model:
        result = _untested(result, "the runs were embedded with different models")
    return result


def _untested(result: SignalResult, note: str) -> SignalResult:
    result.test = result.statistic = result.p_value = None
    result.note = note
    return result
