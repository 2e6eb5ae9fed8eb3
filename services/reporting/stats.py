"""The significance tests behind champion vs challenger, on scipy: two-proportion z test (Fisher's exact test
when a cell is too small for the normal approximation), Mann-Whitney U for amounts per account, Holm's
step-down correction across every comparison of a report, and the chi-square sample-ratio-mismatch check.
All two-sided; pure functions of counts and values."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

ALPHA = 0.05
"""Significance level of every comparison (95% confidence), after Holm's correction."""

SRM_ALPHA = 0.001
"""A sample-ratio mismatch is flagged below this p-value: the check runs on every report, and a strict level
keeps false alarms rare while a broken assignment (a skew of a few percent on thousands of debtors) still
shows at once."""

MIN_EXPECTED = 5
"""Below this expected count in any cell of the 2x2 table the z test's normal approximation is poor (the
usual rule of thumb), so Fisher's exact test is used instead."""

Z_TEST = "two-proportion z test"
FISHER = "Fisher's exact test"
MANN_WHITNEY = "Mann-Whitney U test"
CHI_SQUARE = "chi-square goodness-of-fit test"


def _scipy() -> Any:
    # Imported when a test runs, not with the package: scipy takes over a second to import, and the
    # history and audit commands, which share this package, never need it.
    from scipy import stats

    return stats


@dataclass(frozen=True, slots=True)
class TestResult:
    test: str
    statistic_name: str
    statistic: float | None
    p_value: float


def two_proportions(successes_a: int, total_a: int, successes_b: int, total_b: int) -> TestResult:
    """Do the rates ``successes_a / total_a`` and ``successes_b / total_b`` differ? Pooled z test, or
    Fisher's exact test when an expected cell count is below ``MIN_EXPECTED``. Totals must be positive."""
    if total_a <= 0 or total_b <= 0:
        raise ValueError("both groups need at least one observation")
    pooled = (successes_a + successes_b) / (total_a + total_b)
    expected = (
        total_a * pooled,
        total_a * (1 - pooled),
        total_b * pooled,
        total_b * (1 - pooled),
    )
    if min(expected) < MIN_EXPECTED:
        table = [[successes_a, total_a - successes_a], [successes_b, total_b - successes_b]]
        result = _scipy().fisher_exact(table, alternative="two-sided")
        odds = float(result.statistic)
        return TestResult(FISHER, "odds ratio", odds if math.isfinite(odds) else None, float(result.pvalue))
    error = math.sqrt(pooled * (1 - pooled) * (1 / total_a + 1 / total_b))
    z = (successes_a / total_a - successes_b / total_b) / error
    return TestResult(Z_TEST, "z", z, float(2 * _scipy().norm.sf(abs(z))))


def mann_whitney(values_a: Sequence[float], values_b: Sequence[float]) -> TestResult:
    """Do values in group a tend to be larger or smaller than in group b? U is group a's statistic. With ties
    (many accounts recover nothing) scipy uses the normal approximation with its tie correction."""
    if not values_a or not values_b:
        raise ValueError("both groups need at least one observation")
    if len({*values_a, *values_b}) == 1:
        # Every value equal: no evidence either way (scipy's approximation would divide by zero).
        return TestResult(MANN_WHITNEY, "U", len(values_a) * len(values_b) / 2, 1.0)
    result = _scipy().mannwhitneyu(values_a, values_b, alternative="two-sided", method="auto")
    return TestResult(MANN_WHITNEY, "U", float(result.statistic), float(result.pvalue))


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given: the i-th smallest of m is multiplied by
    m - i + 1, then made non-decreasing and capped at 1. Controls the family-wise error rate at ``ALPHA``."""
    m = len(p_values)
    order = sorted(range(m), key=lambda i: p_values[i])
    adjusted = [0.0] * m
    running = 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p_values[index]))
        adjusted[index] = running
    return adjusted


def sample_ratio(observed: Sequence[int], shares: Sequence[float]) -> TestResult:
    """Does the observed split (counts per arm) fit the configured shares? Chi-square goodness of fit with
    ``len(observed) - 1`` degrees of freedom."""
    total = sum(observed)
    if total <= 0 or len(observed) < 2:
        raise ValueError("needs at least two arms and one observation")
    whole = sum(shares)
    expected = [total * share / whole for share in shares]
    result = _scipy().chisquare(list(observed), expected)
    return TestResult(CHI_SQUARE, "chi-square", float(result.statistic), float(result.pvalue))
