"""Percentile bootstrap: seeded, contains the estimate, narrows with more cases."""

from __future__ import annotations

import numpy as np
import pytest

from explainmyxray.scoring.bootstrap import (
    bootstrap_additive,
    bootstrap_ci,
    mean_of_defined,
    value_rows,
)
from explainmyxray.scoring.classification import count_matrix, micro_f1, micro_f1_from_sums


def _values(n: int, seed: int = 1) -> list[float]:
    return list(np.random.default_rng(seed).uniform(0.0, 1.0, size=n))


def test_interval_contains_estimate_and_narrows_with_cases():
    widths = []
    for n in (20, 200, 2000):
        values = _values(n)
        ci = bootstrap_additive(value_rows(values), mean_of_defined, n_resamples=400, seed=3)
        assert ci.estimate == pytest.approx(float(np.mean(values)))
        assert ci.low <= ci.estimate <= ci.high
        assert ci.n_cases == n and ci.n_valid == 400
        widths.append(ci.high - ci.low)
    assert widths[0] > widths[1] > widths[2]
    # The width of a mean's interval shrinks roughly with 1/sqrt(n): 10x cases, ~3.2x narrower.
    assert 2.0 < widths[0] / widths[1] < 5.0


def test_seeded_and_both_paths_draw_the_same_resamples():
    values = _values(50)
    a = bootstrap_additive(value_rows(values), mean_of_defined, n_resamples=300, seed=7)
    b = bootstrap_additive(value_rows(values), mean_of_defined, n_resamples=300, seed=7)
    c = bootstrap_ci(
        50, lambda idx: float(np.mean(np.asarray(values)[idx])), n_resamples=300, seed=7
    )
    d = bootstrap_additive(value_rows(values), mean_of_defined, n_resamples=300, seed=8)
    assert a == b
    assert (c.low, c.high) == pytest.approx((a.low, a.high))
    assert (d.low, d.high) != (a.low, a.high)


def test_confidence_level_widens_the_interval():
    rows = value_rows(_values(100))
    narrow = bootstrap_additive(rows, mean_of_defined, confidence=0.5, n_resamples=500)
    wide = bootstrap_additive(rows, mean_of_defined, confidence=0.99, n_resamples=500)
    assert wide.low < narrow.low < narrow.high < wide.high


def test_undefined_cases_and_resamples():
    rows = value_rows([1.0, None, 0.0, float("nan")])
    ci = bootstrap_additive(rows, mean_of_defined, n_resamples=200)
    assert ci.estimate == 0.5
    # Resamples that drew only undefined cases are left out.
    assert 0 < ci.n_valid <= 200
    empty = bootstrap_additive(np.zeros((0, 2)), mean_of_defined)
    assert empty.estimate is None and empty.low is None
    undefined = bootstrap_additive(value_rows([None, None]), mean_of_defined)
    assert undefined.estimate is None and undefined.high is None


def test_micro_f1_interval():
    rng = np.random.default_rng(0)
    labels = ["a", "b", "c"]
    reference = [{x for x in labels if rng.random() < 0.4} for _ in range(150)]
    predicted = [{x for x in labels if (x in r) != (rng.random() < 0.2)} for r in reference]
    _, counts = count_matrix(predicted, reference, items=labels)
    ci = bootstrap_additive(counts, micro_f1_from_sums, n_resamples=300)
    assert ci.estimate == pytest.approx(micro_f1(counts))
    assert ci.low < ci.estimate < ci.high


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_resamples"):
        bootstrap_ci(3, lambda idx: 0.0, n_resamples=0)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_additive(np.ones((3, 2)), mean_of_defined, confidence=1.0)


def test_sparse_and_dense_counts_give_the_same_interval():
    rng = np.random.default_rng(5)
    labels = [f"l{i}" for i in range(40)]
    reference = [{x for x in labels if rng.random() < 0.05} for _ in range(300)]
    predicted = [{x for x in labels if (x in r) != (rng.random() < 0.03)} for r in reference]
    _, counts = count_matrix(predicted, reference, items=labels)
    dense = counts.dense()
    assert dense.shape == (300, 40, 3)
    assert dense.sum() == sum(len(p | r) for p, r in zip(predicted, reference, strict=True))
    sparse_ci = bootstrap_additive(counts, micro_f1_from_sums, n_resamples=100, seed=2)
    dense_ci = bootstrap_additive(dense, micro_f1_from_sums, n_resamples=100, seed=2)
    assert (sparse_ci.estimate, sparse_ci.low, sparse_ci.high) == pytest.approx(
        (dense_ci.estimate, dense_ci.low, dense_ci.high)
    )
