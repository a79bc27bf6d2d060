"""Exact top-k over blocks: the same answer as a full sort, whatever the block size."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from explainmyxray.retrieval.search import normalize_rows, top_k


def _reference(matrix: np.ndarray, queries: np.ndarray, k: int):
    sims = queries @ matrix.T
    order = [sorted(range(len(row)), key=lambda i: (-row[i], i))[:k] for row in sims]
    scores = [[row[i] for i in o] for row, o in zip(sims, order, strict=True)]
    return np.array(scores), np.array(order)


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 60),
    queries=st.integers(1, 4),
    k=st.integers(1, 70),
    block=st.integers(1, 25),
    seed=st.integers(0, 10_000),
)
def test_blocked_top_k_equals_a_full_sort(rows, queries, k, block, seed):
    rng = np.random.default_rng(seed)
    matrix = normalize_rows(rng.normal(size=(rows, 8))).astype(np.float16)
    query = normalize_rows(rng.normal(size=(queries, 8)))
    scores, index = top_k(matrix, query, k, block_rows=block)
    want_scores, want_index = _reference(matrix.astype(np.float32), query, k)
    assert index.shape == (queries, min(k, rows))
    np.testing.assert_array_equal(index, want_index)
    np.testing.assert_allclose(scores, want_scores, rtol=0, atol=1e-6)
    assert np.all(np.diff(scores, axis=1) <= 0)


def test_ties_go_to_the_lower_row_across_blocks():
    matrix = np.tile(np.array([[1.0, 0.0]], np.float16), (9, 1))
    scores, index = top_k(matrix, np.array([[1.0, 0.0]]), 4, block_rows=2)
    assert index.tolist() == [[0, 1, 2, 3]]
    assert scores.tolist() == [[1.0] * 4]


def test_normalize_rows_keeps_zero_rows():
    out = normalize_rows(np.array([[3.0, 4.0], [0.0, 0.0]]))
    np.testing.assert_allclose(out, [[0.6, 0.8], [0.0, 0.0]])


@pytest.mark.parametrize("k", [0, -3])
def test_no_results_for_k_below_one(k):
    scores, index = top_k(np.eye(3, dtype=np.float16), np.eye(3), k)
    assert scores.shape == index.shape == (3, 0)
