"""Exact top-k cosine search over unit vectors, a block of rows at a time.

The index matrix may be a read-only memory map of float16 rows; each block is widened to
float32 and multiplied with all queries, so memory stays at one block whatever the index size.
"""

from __future__ import annotations

import numpy as np

BLOCK_ROWS = 65_536


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1.0)


def top_k(
    matrix: np.ndarray, queries: np.ndarray, k: int, *, block_rows: int = BLOCK_ROWS
) -> tuple[np.ndarray, np.ndarray]:
    """Scores and row indices of the ``k`` rows most similar to each query, best first.

    Both sides are taken as unit vectors, so the dot product is the cosine similarity. Ties are
    broken by the lower row index. Returns two (Q, min(k, N)) arrays.
    """
    queries = np.atleast_2d(np.asarray(queries, dtype=np.float32))
    rows = matrix.shape[0]
    k = min(int(k), rows)
    n_queries = queries.shape[0]
    if k <= 0 or n_queries == 0:
        return np.zeros((n_queries, 0), np.float32), np.zeros((n_queries, 0), np.int64)
    best_scores = np.full((n_queries, 0), -np.inf, dtype=np.float32)
    best_index = np.zeros((n_queries, 0), dtype=np.int64)
    for start in range(0, rows, block_rows):
        block = np.asarray(matrix[start : start + block_rows], dtype=np.float32)
        sims = queries @ block.T
        keep = min(k, sims.shape[1])
        part = np.argpartition(-sims, keep - 1, axis=1)[:, :keep]
        scores = np.concatenate([best_scores, np.take_along_axis(sims, part, axis=1)], axis=1)
        index = np.concatenate([best_index, part.astype(np.int64) + start], axis=1)
        best_scores, best_index = _best(scores, index, k)
    return best_scores, best_index


def _best(scores: np.ndarray, index: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((index, -scores), axis=1)[:, :k] if scores.size else index[:, :0]
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(index, order, axis=1)
