"""The effectiveness report as frozen models: what ``compute`` returns and what the text, HTML and JSON views
show. Money is ``Decimal``. Amounts ``*_total`` are in the report's one currency (converted at dated rates);
``Money`` fields keep the amounts as booked, per ISO 4217 currency. Rates and shares are fractions."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

Money = dict[str, Decimal]
"""Amounts as booked, by currency (never added across currencies: the ``*_total`` fields are, converted)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RateUsed(_Frozen):
    """One dated rate some amount in the report was converted at."""

    currency: str
    applies_from: date
    rate: Decimal
    amounts: int


class FxInfo(_Frozen):
    currency: str
    source: str
    description: str
    rates: list[RateUsed] = []


class Population(_Frozen):
    """Which accounts the log names and which of them the report counts."""

    debtors_in_log: int = 0
    debtors_counted: int = 0
    accounts_in_log: int = 0
    accounts_counted: int = 0
    accounts_never_overdue: int = 0
    accounts_never_overdue_with_payments: int = 0
    payments_before_entry: int = 0
    accounts_unassigned: int = 0


class ChannelStats(_Frozen):
    """Contacts on one channel (within one arm, or across all of them): the funnel from request to payment."""

    channel: str
    requested: int = 0
    approved: int = 0
    attempted: int = 0
    delivered: int = 0
    right_party: int = 0
    conversations: int = 0
    rpc_rate: Decimal | None = None
    promised: int = 0
    paid: int = 0
    outcomes: dict[str, int] = {}
    cost: Money = {}
    cost_total: Decimal = Decimal(0)
    promises: int = 0
    recovered: Money = {}
    recovered_total: Decimal = Decimal(0)
    cost_to_collect: Decimal | None = None


class CurvePoint(_Frozen):
    """By ``day`` days after entering collections, over the ``accounts`` observed at least that long."""

    day: int
    accounts: int
    cured: int
    cure_share: Decimal | None
    recovered_share: Decimal | None


class BucketStats(_Frozen):
    """Accounts that reached a days-past-due bucket, by what happened first after they reached it."""

    bucket: str
    accounts: int = 0
    rolled: int = 0
    roll_rate: Decimal | None = None
    cured: int = 0
    cure_rate: Decimal | None = None
    neither: int = 0


class HourStats(_Frozen):
    """Sends made in one local hour of the debtor's day."""

    hour: int
    sends: int = 0
    delivered: int = 0
    contact_rate: Decimal | None = None
    calls: int = 0
    conversations: int = 0
    rpc_rate: Decimal | None = None


class ArmStats(_Frozen):
    """Every KPI of one strategy arm (``arm == "all"`` for the whole portfolio)."""

    arm: str
    debtors: int = 0
    accounts: int = 0
    requested: int = 0
    attempted: int = 0
    delivered: int = 0
    rpc_rate: Decimal | None = None
    accounts_promised: int = 0
    promise_rate: Decimal | None = None
    promises: int = 0
    promises_kept: int = 0
    promises_broken: int = 0
    promises_pending: int = 0
    kept_rate: Decimal | None = None
    cured: int = 0
    cure_rate: Decimal | None = None
    overdue_at_entry: Money = {}
    overdue_at_entry_total: Decimal = Decimal(0)
    recovered: Money = {}
    recovered_total: Decimal = Decimal(0)
    recovery_rate: Decimal | None = None
    median_days_to_recovery: Decimal | None = None
    cost: Money = {}
    cost_total: Decimal = Decimal(0)
    cost_to_collect: Decimal | None = None
    escalations: dict[str, int] = {}
    channels: list[ChannelStats] = []
    curve: list[CurvePoint] = []
    buckets: list[BucketStats] = []
    hours: list[HourStats] = []


class KpiTest(_Frozen):
    """One KPI of a challenger against the champion, with its test and plain verdict."""

    kpi: str
    unit: str
    champion_value: Decimal | None
    challenger_value: Decimal | None
    champion_n: int
    challenger_n: int
    difference: Decimal | None
    test: str | None
    statistic_name: str | None = None
    statistic: float | None = None
    p_value: float | None = None
    p_holm: float | None = None
    significant: bool = False
    verdict: str


class Comparison(_Frozen):
    champion: str
    challenger: str
    tests: list[KpiTest]


class SampleRatio(_Frozen):
    """The observed split of debtors over arms against the configured one."""

    source: str
    strategy: str | None
    version: str | None
    experiment: str | None
    configured: dict[str, Decimal]
    observed: dict[str, int]
    log_versions: list[str] = []
    test: str | None = None
    statistic: float | None = None
    p_value: float | None = None
    mismatch: bool = False
    verdict: str


class GroupStats(_Frozen):
    """Accounts sharing one value of a breakdown's dimension (a product, a segment, a jurisdiction...)."""

    key: str
    accounts: int = 0
    cured: int = 0
    cure_rate: Decimal | None = None
    overdue_at_entry: Money = {}
    overdue_at_entry_total: Decimal = Decimal(0)
    recovered: Money = {}
    recovered_total: Decimal = Decimal(0)
    recovery_rate: Decimal | None = None
    cost_total: Decimal = Decimal(0)
    cost_to_collect: Decimal | None = None


class Breakdown(_Frozen):
    dimension: str
    groups: list[GroupStats]


class TemplateStats(_Frozen):
    channel: str
    template: str
    sends: int = 0
    opt_outs: int = 0
    opt_out_rate: Decimal | None = None


class DecisionCount(_Frozen):
    decision: str
    reason: str
    count: int
    share: Decimal | None = None


class Compliance(_Frozen):
    """Every compliance decision, by decision and by (decision, reason); ``none`` for a reasonless allow.
    A decision may carry several reasons, so reason counts may add up to more than the decisions."""

    decisions: dict[str, int] = {}
    several_reasons: int = 0
    by_reason: list[DecisionCount] = []


class Report(_Frozen):
    """Collection effectiveness computed from the event log, as of its newest event."""

    as_of: datetime | None
    events: int
    grace_days: int
    currency: str
    fx: FxInfo
    population: Population
    total: ArmStats
    arms: list[ArmStats]
    channels: list[ChannelStats]
    sample_ratio: SampleRatio | None = None
    comparisons: list[Comparison] = []
    breakdowns: list[Breakdown] = []
    templates: list[TemplateStats] = []
    opt_outs_without_send: int = 0
    hours_unknown: int = 0
    compliance: Compliance
