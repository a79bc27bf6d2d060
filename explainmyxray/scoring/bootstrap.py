"""Percentile bootstrap confidence intervals over cases.

The unit of resampling is the case: each resample draws ``n_cases`` cases with replacement and
recomputes the corpus-level metric on them. The interval is the ``(1 - confidence) / 2`` and
``(1 + confidence) / 2`` percentiles of the resampled values (the plain percentile method).
Resamples on which the metric is undefined (NaN, e.g. no reference box drawn) are left out of the
percentiles; :attr:`ConfidenceInterval.n_valid` says how many remained.

Two entry points share one random stream (same seed, same resamples):

* :func:`bootstrap_ci` recomputes any metric from the indices of the drawn cases (general, slow);
* :func:`bootstrap_additive` is for metrics that are a function of per-case *sums* (counts of
  true/false positives, hits, sums of per-case values): it resamples by weighting each case by how
  often it was drawn, so a thousand resamples of a thousand cases cost one matrix product.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

DEFAULT_RESAMPLES = 1000
DEFAULT_CONFIDENCE = 0.95
DEFAULT_SEED = 0
_CHUNK = 200


@dataclass(frozen=True)
class ConfidenceInterval:
    """A point estimate with its percentile bootstrap interval (``None`` where undefined)."""

    estimate: float | None
    low: float | None
    high: float | None
    confidence: float
    n_resamples: int
    n_valid: int
    n_cases: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _finite_or_none(value: float) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None


def _resampled_indices(n_cases: int, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    rng = np.random.default_rng(seed)
    done = 0
    while done < n_resamples:
        size = min(_CHUNK, n_resamples - done)
        yield rng.integers(0, n_cases, size=(size, n_cases))
        done += size


def _check(n_resamples: int, confidence: float) -> None:
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")


def _interval(
    estimate: float, values: np.ndarray, confidence: float, n_resamples: int, n_cases: int
) -> ConfidenceInterval:
    finite = values[np.isfinite(values)]
    est = _finite_or_none(estimate)
    if est is None or finite.size == 0:
        return ConfidenceInterval(
            est, None, None, confidence, n_resamples, int(finite.size), n_cases
        )
    alpha = (1.0 - confidence) / 2.0
    low, high = np.percentile(finite, [100.0 * alpha, 100.0 * (1.0 - alpha)])
    return ConfidenceInterval(
        est, float(low), float(high), confidence, n_resamples, int(finite.size), n_cases
    )


def bootstrap_ci(
    n_cases: int,
    statistic: Callable[[np.ndarray], float],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = DEFAULT_SEED,
) -> ConfidenceInterval:
    """Interval of ``statistic(indices)``, where ``indices`` are the drawn case positions.

    ``statistic(np.arange(n_cases))`` is the point estimate; it returns NaN where undefined.
    """
    _check(n_resamples, confidence)
    if n_cases == 0:
        return ConfidenceInterval(None, None, None, confidence, n_resamples, 0, 0)
    estimate = statistic(np.arange(n_cases))
    values = np.array(
        [
            statistic(row)
            for chunk in _resampled_indices(n_cases, n_resamples, seed)
            for row in chunk
        ],
        dtype=float,
    )
    return _interval(estimate, values, confidence, n_resamples, n_cases)


@dataclass(frozen=True)
class SparseRows:
    """Per-case rows of mostly zeros, stored as entries: ``value[k]`` at ``(case[k], column[k])``.

    ``column`` indexes the flattened ``row_shape``. Multi-label counts (one row of
    ``n_items x 3`` per case, a handful of non-zeros) stay small however large the item space.
    """

    n_cases: int
    row_shape: tuple[int, ...]
    case: np.ndarray
    column: np.ndarray
    value: np.ndarray

    @property
    def row_size(self) -> int:
        return int(np.prod(self.row_shape, dtype=np.int64))

    def weighted_sum(self, weights: np.ndarray) -> np.ndarray:
        """Σ over cases of ``weights[case] * row`` (shape ``row_shape``)."""
        sums = np.bincount(
            self.column, weights=weights[self.case] * self.value, minlength=self.row_size
        )
        return sums.reshape(self.row_shape)

    def total(self) -> np.ndarray:
        return self.weighted_sum(np.ones(self.n_cases))

    def dense(self) -> np.ndarray:
        out = np.zeros((self.n_cases, self.row_size))
        np.add.at(out, (self.case, self.column), self.value)
        return out.reshape(self.n_cases, *self.row_shape)


def bootstrap_additive(
    per_case: np.ndarray | SparseRows,
    from_sums: Callable[[np.ndarray], np.ndarray],
    *,
    n_resamples: int = DEFAULT_RESAMPLES,
    confidence: float = DEFAULT_CONFIDENCE,
    seed: int = DEFAULT_SEED,
) -> ConfidenceInterval:
    """Interval of a metric computed from column sums of ``per_case`` (shape ``(n_cases, ...)``,
    or :class:`SparseRows`).

    ``from_sums`` maps an array of sums of shape ``(batch, ...)`` to ``batch`` metric values
    (NaN where undefined). Example, micro F1 from per-case ``[tp, fp, fn]`` rows::

        bootstrap_additive(counts, lambda s: 2 * s[:, 0] / (2 * s[:, 0] + s[:, 1] + s[:, 2]))
    """
    _check(n_resamples, confidence)
    if isinstance(per_case, SparseRows):
        return _bootstrap_sparse(per_case, from_sums, n_resamples, confidence, seed)
    per_case = np.asarray(per_case, dtype=float)
    n_cases = per_case.shape[0]
    if n_cases == 0:
        return ConfidenceInterval(None, None, None, confidence, n_resamples, 0, 0)
    flat = per_case.reshape(n_cases, -1)
    tail = per_case.shape[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        estimate = from_sums(flat.sum(axis=0).reshape(1, *tail))[0]
        values = []
        for chunk in _resampled_indices(n_cases, n_resamples, seed):
            weights = np.stack([np.bincount(row, minlength=n_cases) for row in chunk])
            sums = (weights.astype(float) @ flat).reshape(len(chunk), *tail)
            values.append(np.asarray(from_sums(sums), dtype=float))
    return _interval(estimate, np.concatenate(values), confidence, n_resamples, n_cases)


def _bootstrap_sparse(
    rows: SparseRows,
    from_sums: Callable[[np.ndarray], np.ndarray],
    n_resamples: int,
    confidence: float,
    seed: int,
) -> ConfidenceInterval:
    n_cases = rows.n_cases
    if n_cases == 0:
        return ConfidenceInterval(None, None, None, confidence, n_resamples, 0, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        estimate = from_sums(rows.total()[None])[0]
        values = []
        for chunk in _resampled_indices(n_cases, n_resamples, seed):
            sums = np.stack(
                [rows.weighted_sum(np.bincount(r, minlength=n_cases).astype(float)) for r in chunk]
            )
            values.append(np.asarray(from_sums(sums), dtype=float))
    return _interval(estimate, np.concatenate(values), confidence, n_resamples, n_cases)


def mean_of_defined(sums: np.ndarray) -> np.ndarray:
    """``from_sums`` for a mean over cases where a value is defined.

    Per-case rows are ``[value, 1]`` for a defined value and ``[0, 0]`` for an undefined one.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        return sums[:, 0] / sums[:, 1]


def value_rows(values: list[float | None]) -> np.ndarray:
    """Per-case rows for :func:`mean_of_defined` (``None`` or NaN = undefined for that case)."""
    rows = np.zeros((len(values), 2))
    for i, value in enumerate(values):
        if value is not None and np.isfinite(value):
            rows[i] = (value, 1.0)
    return rows
