"""The effectiveness report as frozen models: what ``compute`` returns and what the text, HTML and JSON views
show. Money stays ``Decimal`` per ISO 4217 currency (never summed across currencies); rates are fractions."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict

Money = dict[str, Decimal]
"""Amounts by currency: a bank lending in several currencies recovers in each, and no rate converts them."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ChannelStats(_Frozen):
    """Contacts on one channel (within one arm, or across all of them)."""

    channel: str
    requested: int = 0
    approved: int = 0
    attempted: int = 0
    delivered: int = 0
    conversations: int = 0
    rpc_rate: Decimal | None = None
    outcomes: dict[str, int] = {}
    cost: Money = {}
    promises: int = 0
    recovered: Money = {}
    cost_to_collect: Money = {}


class CurvePoint(_Frozen):
    """Cumulative amount recovered by ``day`` days after the accounts entered collections."""

    currency: str
    day: int
    recovered: Decimal


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
    recovered: Money = {}
    recovery_rate: Money = {}
    median_days_to_recovery: Decimal | None = None
    cost: Money = {}
    cost_to_collect: Money = {}
    escalations: dict[str, int] = {}
    channels: list[ChannelStats] = []
    curve: list[CurvePoint] = []


class DecisionCount(_Frozen):
    decision: str
    reason: str
    count: int


class Compliance(_Frozen):
    """Every compliance decision, by decision and by (decision, reason); ``none`` for a reasonless allow."""

    decisions: dict[str, int] = {}
    by_reason: list[DecisionCount] = []


class Report(_Frozen):
    """Collection effectiveness computed from the event log, as of its newest event."""

    as_of: datetime | None
    events: int
    grace_days: int
    total: ArmStats
    arms: list[ArmStats]
    channels: list[ChannelStats]
    compliance: Compliance
