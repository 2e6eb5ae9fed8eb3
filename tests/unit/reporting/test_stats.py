"""The significance tests against values computed by hand from their textbook formulas."""

from __future__ import annotations

import math

import pytest

from services.reporting import stats


def test_two_proportion_z_test_matches_the_pooled_formula() -> None:
    # Cure 57.4% of 1,899 against 54.0% of 478: the difference the old report showed without a test.
    cured_a, n_a, cured_b, n_b = 1090, 1899, 258, 478
    pooled = (cured_a + cured_b) / (n_a + n_b)
    z = (cured_a / n_a - cured_b / n_b) / math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    p = math.erfc(abs(z) / math.sqrt(2))
    result = stats.two_proportions(cured_a, n_a, cured_b, n_b)
    assert result.test == "two-proportion z test"
    assert result.statistic == pytest.approx(z, abs=1e-12)
    assert result.statistic == pytest.approx(1.3503, abs=1e-4)
    assert result.p_value == pytest.approx(p, abs=1e-12)
    assert result.p_value > stats.ALPHA  # not significant at 95%


def test_small_cells_use_fishers_exact_test() -> None:
    # 3 of 4 against 0 of 4: p = (C(3,3)C(5,1) + C(3,0)C(5,4)) / C(8,4) = 10 / 70 by the hypergeometric law.
    result = stats.two_proportions(3, 4, 0, 4)
    assert result.test == "Fisher's exact test"
    assert result.p_value == pytest.approx(10 / 70)
    assert result.statistic is None  # the odds ratio is infinite


def test_mann_whitney_u_counts_the_pairs_won() -> None:
    a, b = [0.0, 0.5, 1.0, 0.8], [0.0, 0.2, 0.1]
    # U for a: pairs (x in a, y in b) with x > y, ties counting one half.
    u = sum(1.0 if x > y else 0.5 if x == y else 0.0 for x in a for y in b)
    result = stats.mann_whitney(a, b)
    assert result.test == "Mann-Whitney U test"
    assert result.statistic == u == 9.5
    assert 0 < result.p_value < 1


def test_mann_whitney_with_every_value_equal_finds_nothing() -> None:
    result = stats.mann_whitney([0.0] * 5, [0.0] * 3)
    assert (result.statistic, result.p_value) == (7.5, 1.0)


def test_holm_multiplies_the_smallest_by_the_number_of_tests_and_stays_monotone() -> None:
    adjusted = stats.holm([0.01, 0.04, 0.03, 0.5])
    # Sorted: 0.01 x 4 = 0.04, 0.03 x 3 = 0.09, 0.04 x 2 = 0.08 -> raised to 0.09, 0.5 x 1 = 0.5.
    assert adjusted == pytest.approx([0.04, 0.09, 0.09, 0.5])
    assert stats.holm([0.9, 0.8]) == pytest.approx([1.0, 1.0])


def test_sample_ratio_is_a_chi_square_goodness_of_fit() -> None:
    observed, shares = [1899, 478], [80.0, 20.0]
    expected = [2377 * 0.8, 2377 * 0.2]
    chi2 = sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))
    result = stats.sample_ratio(observed, shares)
    assert result.statistic == pytest.approx(chi2)
    # One degree of freedom: P(chi-square > x) = erfc(sqrt(x / 2)).
    assert result.p_value == pytest.approx(math.erfc(math.sqrt(chi2 / 2)))
    assert result.p_value > stats.SRM_ALPHA
    assert stats.sample_ratio([1000, 1000], shares).p_value < stats.SRM_ALPHA
