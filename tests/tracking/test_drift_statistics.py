"""The two-sample tests behind ``monitor``: known answers, and the edge cases they must survive."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("scipy")

from explainmyxray.tracking.drift import (
    categorical_test,
    contingency,
    continuous_test,
    holm,
    mmd_test,
)


def test_identical_categorical_samples_do_not_differ():
    sample = ["CR"] * 6 + ["DX"] * 3 + ["(not recorded)"] * 5
    result = categorical_test(sample, list(sample))
    assert result.statistic == pytest.approx(0.0)
    assert result.p_value == pytest.approx(1.0)


def test_two_categories_use_fishers_exact_test():
    from scipy import stats

    ref, cur = ["PA"] * 9 + ["AP"], ["PA"] * 2 + ["AP"] * 8
    result = categorical_test(ref, cur)
    _, expected = stats.fisher_exact([[1, 9], [8, 2]])  # categories sort AP, PA
    assert result.test.startswith("Fisher")
    assert result.p_value == pytest.approx(expected)
    assert result.p_value < 0.01


def test_sparse_tables_get_a_permutation_p_value_and_large_ones_the_chi_square():
    sparse = categorical_test(["CR"] * 8, ["CT", "MR", "US", "DX"])
    assert sparse.test == "chi-square (permutation)"
    assert sparse.p_value < 0.01
    rng = np.random.default_rng(1)
    big_ref = list(rng.choice(["a", "b", "c"], 400, p=[0.5, 0.3, 0.2]))
    big_cur = list(rng.choice(["a", "b", "c"], 400, p=[0.5, 0.3, 0.2]))
    dense = categorical_test(big_ref, big_cur)
    assert dense.test == "chi-square"
    assert dense.p_value > 0.01


def test_contingency_table_counts_each_side():
    categories, table = contingency(["a", "b", "a"], ["b", "c"])
    assert categories == ["a", "b", "c"]
    assert table.tolist() == [[2, 1, 0], [0, 1, 1]]


def test_kolmogorov_smirnov_separates_shifted_samples_only():
    rng = np.random.default_rng(0)
    ref = rng.normal(0.5, 0.1, 40)
    assert continuous_test(ref, rng.normal(0.5, 0.1, 40)).p_value > 0.05
    shifted = continuous_test(ref, rng.normal(0.8, 0.1, 40))
    assert shifted.statistic > 0.7 and shifted.p_value < 1e-6


def test_mmd_permutation_test_detects_a_mean_shift_in_many_dimensions():
    rng = np.random.default_rng(2)
    ref = rng.normal(0, 1, (20, 64))
    same = mmd_test(ref, rng.normal(0, 1, (20, 64)), permutations=500)
    moved = mmd_test(ref, rng.normal(0.6, 1, (20, 64)), permutations=500)
    assert same.p_value > 0.05
    assert moved.p_value < 0.01 and moved.statistic > same.statistic


def test_mmd_of_identical_rows_is_zero_not_round_off():
    """Duplicated embeddings (one report text for every case) once set the bandwidth from
    floating-point noise and showed a spurious MMD."""
    row = np.random.default_rng(3).normal(size=384)
    row /= np.linalg.norm(row)
    result = mmd_test(np.tile(row, (7, 1)), np.tile(row, (5, 1)), permutations=200)
    assert result.statistic == pytest.approx(0.0, abs=1e-9)
    assert result.p_value == pytest.approx(1.0)


def test_mmd_rejects_samples_of_different_width():
    with pytest.raises(ValueError, match="one width"):
        mmd_test(np.zeros((3, 4)), np.zeros((3, 5)))


def test_holm_matches_the_step_down_procedure_by_hand():
    # sorted 0.01, 0.02, 0.03, 0.5 -> x4, x3, x2, x1 -> 0.04, 0.06, 0.06 (monotone), 0.5
    assert holm([0.03, 0.01, 0.5, 0.02]) == pytest.approx([0.06, 0.04, 0.5, 0.06])
    assert holm([0.9, 0.9]) == pytest.approx([1.0, 1.0])
