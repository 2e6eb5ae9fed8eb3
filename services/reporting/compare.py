"""Champion vs challenger: each KPI of each challenger against the champion with a named two-sided test,
Holm's correction across every test of the report, a plain verdict; and the sample-ratio-mismatch check of
the observed split of debtors against the configured one.

Units: arms are assigned per debtor, the rates are per account (cure, promise), per judged promise (kept)
or per call (right-party contact). The tests treat those units as independent, which holds closely when
most debtors have one account (see docs/reporting.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal

from schemas.vocab import Channel
from services.reporting import stats
from services.reporting.experiment import Experiment
from services.reporting.index import UNASSIGNED, Account, Log, promise_verdict
from services.reporting.model import Comparison, KpiTest, SampleRatio

_MEAN = Decimal("0.0001")


@dataclass(frozen=True)
class _Rate:
    """A rate as successes out of a total, per arm."""

    kpi: str
    unit: str
    counts: Callable[[Log, str, int], tuple[int, int]]


@dataclass(frozen=True)
class _Amounts:
    """An amount per account, compared as a distribution."""

    kpi: str
    unit: str
    values: Callable[[Log, str], list[Decimal]]


def _accounts(log: Log, arm: str) -> list[Account]:
    return [a for a in log.accounts.values() if log.arm_of(a.debtor_id) == arm]


def _cured(log: Log, arm: str, grace_days: int) -> tuple[int, int]:
    accounts = _accounts(log, arm)
    return sum(1 for a in accounts if a.cured_at is not None), len(accounts)


def _promised(log: Log, arm: str, grace_days: int) -> tuple[int, int]:
    accounts = _accounts(log, arm)
    return sum(1 for a in accounts if a.promises), len(accounts)


def _kept(log: Log, arm: str, grace_days: int) -> tuple[int, int]:
    verdicts = [promise_verdict(a, p, grace_days, log.as_of) for a in _accounts(log, arm) for p in a.promises]
    return verdicts.count("kept"), verdicts.count("kept") + verdicts.count("broken")


def _right_party(log: Log, arm: str, grace_days: int) -> tuple[int, int]:
    calls = [
        c
        for c in log.contacts.values()
        if c.arm == arm and c.channel is Channel.VOICE and c.accepted_at is not None
    ]
    return sum(c.conversation for c in calls), len(calls)


def _recovered_share(log: Log, arm: str) -> list[Decimal]:
    return [
        sum((p.value for p in a.recovered()), Decimal(0)) / a.outstanding_value
        for a in _accounts(log, arm)
        if a.outstanding_value
    ]


def _cost(log: Log, arm: str) -> list[Decimal]:
    cost: dict[tuple[str, str], Decimal] = {}
    for contact in log.contacts.values():
        key = (contact.debtor_id, contact.account_id)
        cost[key] = cost.get(key, Decimal(0)) + contact.cost_value
    return [cost.get((a.debtor_id, a.account_id), Decimal(0)) for a in _accounts(log, arm)]


KPIS: tuple[_Rate | _Amounts, ...] = (
    _Rate("cure rate", "accounts", _cured),
    _Rate("promise rate", "accounts", _promised),
    _Rate("kept-promise rate", "judged promises", _kept),
    _Rate("RPC rate", "calls", _right_party),
    _Amounts("recovered share per account", "accounts", _recovered_share),
    _Amounts("cost per account", "accounts", _cost),
)


def compare(log: Log, arms: list[str], experiment: Experiment, grace_days: int) -> list[Comparison]:
    """Every challenger (every arm but the champion and ``unassigned``) against the champion: the
    experiment's first arm if the log has it, else no comparison."""
    champion = experiment.champion
    if champion not in arms:
        return []
    challengers = [a for a in arms if a not in (champion, UNASSIGNED)]
    drafts = [
        [_test(log, kpi, champion, challenger, grace_days) for kpi in KPIS] for challenger in challengers
    ]
    tested = [test for tests in drafts for test in tests if test.p_value is not None]
    adjusted = dict(zip(map(id, tested), stats.holm([t.p_value or 0.0 for t in tested]), strict=True))
    return [
        Comparison(
            champion=champion,
            challenger=challenger,
            tests=[_judged(test, adjusted.get(id(test)), challenger) for test in tests],
        )
        for challenger, tests in zip(challengers, drafts, strict=True)
    ]


def _test(log: Log, kpi: _Rate | _Amounts, champion: str, challenger: str, grace_days: int) -> KpiTest:
    if isinstance(kpi, _Rate):
        hits_a, total_a = kpi.counts(log, champion, grace_days)
        hits_b, total_b = kpi.counts(log, challenger, grace_days)
        value_a, value_b = _fraction(hits_a, total_a), _fraction(hits_b, total_b)
        result = stats.two_proportions(hits_b, total_b, hits_a, total_a) if total_a and total_b else None
    else:
        values_a, values_b = kpi.values(log, champion), kpi.values(log, challenger)
        total_a, total_b = len(values_a), len(values_b)
        value_a, value_b = _mean(values_a), _mean(values_b)
        result = (
            stats.mann_whitney([float(v) for v in values_b], [float(v) for v in values_a])
            if values_a and values_b
            else None
        )
    return KpiTest(
        kpi=kpi.kpi,
        unit=kpi.unit,
        champion_value=value_a,
        challenger_value=value_b,
        champion_n=total_a,
        challenger_n=total_b,
        difference=value_b - value_a if value_a is not None and value_b is not None else None,
        test=result.test if result else None,
        statistic_name=result.statistic_name if result else None,
        statistic=result.statistic if result else None,
        p_value=result.p_value if result else None,
        verdict=f"not tested: no {kpi.unit} in one arm",
    )


def _judged(test: KpiTest, p_holm: float | None, challenger: str) -> KpiTest:
    if p_holm is None:
        return test
    significant = p_holm < stats.ALPHA
    if significant and test.difference:
        direction = "higher" if test.difference > 0 else "lower"
        verdict = f"significant at 95%: {challenger} {direction}"
    else:
        verdict = "not significant at 95%"
    return test.model_copy(update={"p_holm": p_holm, "significant": significant, "verdict": verdict})


def _fraction(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) / Decimal(whole)).quantize(_MEAN, ROUND_HALF_EVEN) if whole else None


def _mean(values: list[Decimal]) -> Decimal | None:
    return (sum(values, Decimal(0)) / len(values)).quantize(_MEAN, ROUND_HALF_EVEN) if values else None


def sample_ratio(log: Log, experiment: Experiment) -> SampleRatio:
    """Debtors with an arm, per arm, against the configured shares (chi-square goodness of fit)."""
    observed = dict.fromkeys(experiment.shares, 0)
    for debtor in {a.debtor_id for a in log.accounts.values()} | set(log.arms):
        arm = log.arm_of(debtor)
        if arm != UNASSIGNED:
            observed[arm] = observed.get(arm, 0) + 1
    base = SampleRatio(
        source=experiment.source,
        strategy=experiment.strategy,
        version=experiment.version,
        experiment=experiment.name,
        configured=dict(experiment.shares),
        observed=observed,
        log_versions=sorted(log.versions),
        verdict="",
    )
    unknown = sorted(set(observed) - set(experiment.shares))
    if unknown:
        verdict = f"mismatch: arms not in the configured split: {', '.join(unknown)}"
        return base.model_copy(update={"mismatch": True, "verdict": verdict})
    if len(observed) < 2:
        return base.model_copy(update={"verdict": "not tested: the configured split has one arm"})
    if not sum(observed.values()):
        return base.model_copy(update={"verdict": "not tested: no debtor has an arm yet"})
    result = stats.sample_ratio(list(observed.values()), [float(s) for s in experiment.shares.values()])
    mismatch = result.p_value < stats.SRM_ALPHA
    verdict = (
        "mismatch at 99.9%: the split differs from the configured one; fix the assignment before trusting "
        "any comparison"
        if mismatch
        else "no mismatch at 99.9%"
    )
    return base.model_copy(
        update={
            "test": result.test,
            "statistic": result.statistic,
            "p_value": result.p_value,
            "mismatch": mismatch,
            "verdict": verdict,
        }
    )
