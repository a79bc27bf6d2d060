"""Two-sample tests for drift, each returning a statistic and a p-value.

* Categorical signals (modality, manufacturer, view, a flag's presence): Fisher's exact test on a
  2x2 table; on larger tables the chi-square statistic, with its p-value from a permutation test
  (Monte Carlo) whenever an expected count is below 5, where the chi-square approximation fails.
* Continuous signals (pixel spacing, intensity statistics): the two-sample Kolmogorov-Smirnov
  test (exact for small samples).
* Multivariate signals (image thumbnails, text embeddings): maximum mean discrepancy with a
  Gaussian kernel (bandwidth: median pairwise distance of the pooled sample) and a permutation
  p-value.
* Many signals are tested at once, so p-values are adjusted with Holm's step-down method, which
  keeps the family-wise error rate at ``alpha`` whatever the dependence between the tests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np

DEFAULT_PERMUTATIONS = 5000
MIN_EXPECTED = 5.0


@dataclass(frozen=True)
class TestResult:
    test: str
    statistic: float
    p_value: float


def _permutation_p(observed: float, null: np.ndarray) -> float:
    """The add-one permutation p-value (never exactly zero)."""
    return float((1 + np.count_nonzero(null >= observed - 1e-12)) / (1 + len(null)))


def contingency(
    reference: Sequence[Hashable], current: Sequence[Hashable]
) -> tuple[list, np.ndarray]:
    """Categories (sorted by their text) and the 2 x K table of counts."""
    ref, cur = Counter(reference), Counter(current)
    categories = sorted(set(ref) | set(cur), key=str)
    table = np.array([[ref[c] for c in categories], [cur[c] for c in categories]], dtype=float)
    return categories, table


def _chi_square(table: np.ndarray) -> float:
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(expected > 0, (table - expected) ** 2 / expected, 0.0)
    return float(terms.sum())


def categorical_test(
    reference: Sequence[Hashable],
    current: Sequence[Hashable],
    *,
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
) -> TestResult:
    """Are the two samples drawn from the same categorical distribution?"""
    from scipy import stats

    categories, table = contingency(reference, current)
    if len(categories) < 2:
        return TestResult("chi-square", 0.0, 1.0)
    if len(categories) == 2:
        odds, p = stats.fisher_exact(table.astype(int))
        return TestResult("Fisher exact (odds ratio)", float(odds), float(p))
    observed = _chi_square(table)
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    if expected.min() >= MIN_EXPECTED:
        p_value = float(stats.chi2.sf(observed, len(categories) - 1))
        return TestResult("chi-square", observed, p_value)
    labels = np.array([categories.index(v) for v in [*reference, *current]])
    n_ref = len(reference)
    rng = np.random.default_rng(seed)
    k = len(categories)
    null = np.empty(permutations)
    for i in range(permutations):
        shuffled = rng.permutation(labels)
        perm = np.stack(
            [np.bincount(shuffled[:n_ref], minlength=k), np.bincount(shuffled[n_ref:], minlength=k)]
        ).astype(float)
        null[i] = _chi_square(perm)
    return TestResult("chi-square (permutation)", observed, _permutation_p(observed, null))


def continuous_test(reference: Sequence[float], current: Sequence[float]) -> TestResult:
    """Two-sample Kolmogorov-Smirnov: the largest gap between the empirical CDFs."""
    from scipy import stats

    result = stats.ks_2samp(np.asarray(reference, float), np.asarray(current, float))
    return TestResult("Kolmogorov-Smirnov", float(result.statistic), float(result.pvalue))


def _sq_distances(x: np.ndarray) -> np.ndarray:
    norms = (x * x).sum(axis=1)
    return np.maximum(norms[:, None] + norms[None, :] - 2.0 * x @ x.T, 0.0)


def _mmd2(kernel: np.ndarray, in_ref: np.ndarray) -> float:
    """The unbiased squared MMD from the pooled kernel matrix and a reference-membership mask."""
    ref, cur = in_ref, ~in_ref
    m, n = int(ref.sum()), int(cur.sum())
    k_xx = kernel[np.ix_(ref, ref)]
    k_yy = kernel[np.ix_(cur, cur)]
    k_xy = kernel[np.ix_(ref, cur)]
    xx = (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    yy = (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    return float(xx + yy - 2.0 * k_xy.mean())


def mmd_test(
    reference: np.ndarray,
    current: np.ndarray,
    *,
    permutations: int = DEFAULT_PERMUTATIONS,
    seed: int = 0,
) -> TestResult:
    """Maximum mean discrepancy (Gaussian kernel, median-distance bandwidth), permutation p."""
    x = np.asarray(reference, dtype=np.float64)
    y = np.asarray(current, dtype=np.float64)
    if x.ndim != 2 or y.ndim != 2 or x.shape[1] != y.shape[1]:
        raise ValueError(f"MMD needs two 2-D samples of one width, got {x.shape} and {y.shape}")
    if len(x) < 2 or len(y) < 2:
        raise ValueError("MMD needs at least two rows on each side")
    pooled = np.concatenate([x, y])
    distances = _sq_distances(pooled)
    # identical rows give round-off, not distance: zero it so it cannot set the bandwidth
    distances[distances < 1e-9 * max(1.0, float((pooled * pooled).sum(axis=1).mean()))] = 0.0
    off_diagonal = distances[~np.eye(len(pooled), dtype=bool)]
    positive = off_diagonal[off_diagonal > 0]
    bandwidth = float(np.median(off_diagonal)) or (float(positive.mean()) if positive.size else 1.0)
    kernel = np.exp(-distances / bandwidth)
    in_ref = np.zeros(len(pooled), dtype=bool)
    in_ref[: len(x)] = True
    observed = _mmd2(kernel, in_ref)
    rng = np.random.default_rng(seed)
    null = np.array([_mmd2(kernel, rng.permutation(in_ref)) for _ in range(permutations)])
    return TestResult("MMD² (permutation)", observed, _permutation_p(observed, null))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input order."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(p)
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[index]))
        adjusted[index] = running
    return adjusted.tolist()
