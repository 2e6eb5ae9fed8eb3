"""Collection effectiveness from the event log: a pure function from events to a ``Report``, no I/O, no clock.

The definitions (attempted, delivered, right-party contact, promise and kept promise, cure, recovery, cost to
collect, last-touch attribution) are written out in docs/operations.md; the code follows them to the letter.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from pydantic import BaseModel

from schemas import events as ev
from schemas.vocab import Channel
from services.core.codec import Envelope
from services.reporting.model import (
    ArmStats,
    ChannelStats,
    Compliance,
    CurvePoint,
    DecisionCount,
    Money,
    Report,
)
from services.reporting.sends import CONVERSATION, DELIVERED, accepted_at, final_status

UNASSIGNED = "unassigned"
ALL = "all"
_RATE = Decimal("0.0001")
_RATIO = Decimal("0.000001")
_DAYS = Decimal("0.1")
_DAY_SECONDS = Decimal(86_400)

AccountKey = tuple[str, str]


@dataclass
class _Contact:
    """One request with everything the log says about it."""

    request_id: str
    debtor_id: str
    channel: Channel
    arm: str
    requested: bool = False
    approved: bool = False
    outcomes: list[ev.ContactOutcome] = field(default_factory=list)

    @property
    def accepted_at(self) -> datetime | None:
        return accepted_at(self.outcomes)

    @property
    def delivered(self) -> bool:
        return any(o.status in DELIVERED[self.channel] for o in self.outcomes)

    @property
    def conversation(self) -> bool:
        return self.channel is Channel.VOICE and any(o.status in CONVERSATION for o in self.outcomes)

    @property
    def cost(self) -> Money:
        return _sum_money((o.cost_currency, o.cost) for o in self.outcomes)


@dataclass
class _Account:
    debtor_id: str
    account_id: str
    entered: datetime
    currency: str
    outstanding: Decimal
    payments: list[ev.PaymentPosted] = field(default_factory=list)
    promises: list[ev.PromiseToPayRecorded] = field(default_factory=list)
    cured_at: datetime | None = None


@dataclass
class _Log:
    """The log indexed once: events deduplicated by ``ce_id`` and by their own ids, in time order."""

    as_of: datetime | None = None
    events: int = 0
    contacts: dict[str, _Contact] = field(default_factory=dict)
    accounts: dict[AccountKey, _Account] = field(default_factory=dict)
    arms: dict[str, str] = field(default_factory=dict)
    decisions: dict[str, ev.ComplianceDecision] = field(default_factory=dict)
    escalations: dict[str, ev.EscalationRaised] = field(default_factory=dict)

    def arm_of(self, debtor_id: str) -> str:
        return self.arms.get(debtor_id, UNASSIGNED)


def compute(envelopes: Iterable[Envelope[BaseModel]], *, grace_days: int = 2) -> Report:
    """The report over every event given, in any order, duplicates included."""
    log = _index(envelopes)
    arms = sorted({*log.arms.values(), *(c.arm for c in log.contacts.values())} - {UNASSIGNED})
    if any(c.arm == UNASSIGNED for c in log.contacts.values()) or any(
        log.arm_of(a.debtor_id) == UNASSIGNED for a in log.accounts.values()
    ):
        arms.append(UNASSIGNED)
    last_day = max(
        (_day(p.posted_at, a.entered) for a in log.accounts.values() for p in _recovered(a)), default=0
    )
    return Report(
        as_of=log.as_of,
        events=log.events,
        grace_days=grace_days,
        total=_arm_stats(log, None, grace_days, last_day),
        arms=[_arm_stats(log, arm, grace_days, last_day) for arm in arms],
        channels=_channel_stats(log, None),
        compliance=_compliance(log.decisions.values()),
    )


# ---- indexing --------------------------------------------------------------------------------


def _index(envelopes: Iterable[Envelope[BaseModel]]) -> _Log:
    log = _Log()
    seen: set[str] = set()
    unique = []
    for envelope in envelopes:
        if envelope.id not in seen:
            seen.add(envelope.id)
            unique.append(envelope)
    unique.sort(key=lambda e: e.time)
    log.events = len(unique)
    log.as_of = unique[-1].time if unique else None
    outcome_ids: set[str] = set()
    payment_ids: set[tuple[str, str]] = set()
    promise_ids: set[tuple[str, str]] = set()
    late: list[ev.PaymentPosted | ev.PromiseToPayRecorded | ev.AccountStatusChanged] = []
    for envelope in unique:
        event = envelope.event
        match event:
            case ev.AccountOverdue():
                key = (event.debtor_id, event.account_id)
                if key not in log.accounts:
                    log.accounts[key] = _Account(
                        event.debtor_id,
                        event.account_id,
                        event.as_of,
                        event.currency,
                        event.total_outstanding,
                    )
            case ev.ContactRequested():
                log.arms.setdefault(event.debtor_id, event.arm)
                contact = _contact(log, event.request_id, event.debtor_id, event.channel, event.arm)
                contact.requested = True
            case ev.ContactApproved():
                _contact(log, event.request_id, event.debtor_id, event.channel, event.arm).approved = True
            case ev.ContactOutcome() if event.outcome_id not in outcome_ids:
                outcome_ids.add(event.outcome_id)
                _contact(log, event.request_id, event.debtor_id, event.channel, event.arm).outcomes.append(
                    event
                )
            case ev.ComplianceDecision():
                log.decisions.setdefault(event.decision_id, event)
            case ev.EscalationRaised():
                log.escalations.setdefault(event.escalation_id, event)
            case ev.PaymentPosted() if (event.account_id, event.payment_id) not in payment_ids:
                payment_ids.add((event.account_id, event.payment_id))
                late.append(event)
            case ev.PromiseToPayRecorded() if (event.account_id, event.promise_id) not in promise_ids:
                promise_ids.add((event.account_id, event.promise_id))
                late.append(event)
            case ev.AccountStatusChanged() if event.status is ev.AccountStatus.CURED:
                late.append(event)
            case _:
                pass
    # A debtor never asked for by escalation takes the arm another of its events names, if any.
    bearers: list[ev.ComplianceDecision | ev.EscalationRaised] = [
        *log.decisions.values(),
        *log.escalations.values(),
    ]
    for arm_bearer in bearers:
        if arm_bearer.arm:
            log.arms.setdefault(arm_bearer.debtor_id, arm_bearer.arm)
    for contact in log.contacts.values():
        if contact.arm:
            log.arms.setdefault(contact.debtor_id, contact.arm)
    for contact in log.contacts.values():
        contact.arm = contact.arm or log.arm_of(contact.debtor_id)
    # Payments, promises and cures count only for accounts that entered collections, whenever they arrive.
    for event in late:
        account = log.accounts.get((event.debtor_id, event.account_id))
        if account is None:
            continue
        if isinstance(event, ev.PaymentPosted):
            account.payments.append(event)
            if event.paid_in_full and event.posted_at >= account.entered:
                account.cured_at = _earliest(account.cured_at, event.posted_at)
        elif isinstance(event, ev.PromiseToPayRecorded):
            account.promises.append(event)
        elif isinstance(event, ev.AccountStatusChanged):
            account.cured_at = _earliest(account.cured_at, event.effective_at)
    return log


def _contact(log: _Log, request_id: str, debtor_id: str, channel: Channel, arm: str) -> _Contact:
    contact = log.contacts.get(request_id)
    if contact is None:
        contact = log.contacts[request_id] = _Contact(request_id, debtor_id, channel, arm)
    elif not contact.arm:
        contact.arm = arm
    return contact


def _earliest(current: datetime | None, candidate: datetime) -> datetime:
    return candidate if current is None or candidate < current else current


# ---- KPIs -----------------------------------------------------------------------------------


def _arm_stats(log: _Log, arm: str | None, grace_days: int, last_day: int) -> ArmStats:
    accounts = [a for a in log.accounts.values() if arm is None or log.arm_of(a.debtor_id) == arm]
    contacts = [c for c in log.contacts.values() if arm is None or c.arm == arm]
    channels = _channel_stats(log, arm)
    voice = [c for c in contacts if c.channel is Channel.VOICE and c.accepted_at is not None]
    promises = [(a, p) for a in accounts for p in a.promises]
    verdicts = Counter(_verdict(a, p, grace_days, log.as_of) for a, p in promises)
    cured = [a for a in accounts if a.cured_at is not None]
    recovered = _sum_money((p.currency, p.amount) for a in accounts for p in _recovered(a))
    overdue = _sum_money((a.currency, a.outstanding) for a in accounts)
    cost = _sum_money(item for c in contacts for item in c.cost.items())
    days = [
        (Decimal(int((a.cured_at - a.entered).total_seconds())) / _DAY_SECONDS).quantize(_DAYS)
        for a in cured
        if a.cured_at is not None
    ]
    escalations = Counter(
        e.kind.value
        for e in log.escalations.values()
        if arm is None or (e.arm or log.arm_of(e.debtor_id)) == arm
    )
    return ArmStats(
        arm=arm or ALL,
        debtors=len({a.debtor_id for a in accounts}),
        accounts=len(accounts),
        requested=sum(c.requested for c in channels),
        attempted=sum(c.attempted for c in channels),
        delivered=sum(c.delivered for c in channels),
        rpc_rate=_rate(sum(c.conversation for c in voice), len(voice)),
        accounts_promised=sum(1 for a in accounts if a.promises),
        promise_rate=_rate(sum(1 for a in accounts if a.promises), len(accounts)),
        promises=len(promises),
        promises_kept=verdicts["kept"],
        promises_broken=verdicts["broken"],
        promises_pending=verdicts["pending"],
        kept_rate=_rate(verdicts["kept"], verdicts["kept"] + verdicts["broken"]),
        cured=len(cured),
        cure_rate=_rate(len(cured), len(accounts)),
        overdue_at_entry=overdue,
        recovered=recovered,
        recovery_rate=_ratios(recovered, overdue),
        median_days_to_recovery=statistics.median(days).quantize(_DAYS) if days else None,
        cost=cost,
        cost_to_collect=_ratios(cost, recovered),
        escalations=dict(sorted(escalations.items())),
        channels=channels,
        curve=_curve(accounts, last_day),
    )


def _channel_stats(log: _Log, arm: str | None) -> list[ChannelStats]:
    contacts = [c for c in log.contacts.values() if arm is None or c.arm == arm]
    touches = _touches(log.contacts.values())
    promised: Counter[Channel] = Counter()
    recovered: dict[Channel, list[tuple[str, Decimal]]] = defaultdict(list)
    for account in log.accounts.values():
        if arm is not None and log.arm_of(account.debtor_id) != arm:
            continue
        for promise in account.promises:
            if (channel := _last_touch(touches, account.debtor_id, promise.recorded_at)) is not None:
                promised[channel] += 1
        for payment in _recovered(account):
            if (channel := _last_touch(touches, account.debtor_id, payment.posted_at)) is not None:
                recovered[channel].append((payment.currency, payment.amount))
    stats = []
    for channel in Channel:
        mine = [c for c in contacts if c.channel is channel]
        attempted = [c for c in mine if c.accepted_at is not None]
        conversations = sum(c.conversation for c in attempted)
        cost = _sum_money(item for c in mine for item in c.cost.items())
        money_back = _sum_money(recovered[channel])
        stats.append(
            ChannelStats(
                channel=channel.value,
                requested=sum(c.requested for c in mine),
                approved=sum(c.approved for c in mine),
                attempted=len(attempted),
                delivered=sum(c.delivered for c in attempted),
                conversations=conversations,
                rpc_rate=_rate(conversations, len(attempted)) if channel is Channel.VOICE else None,
                outcomes=_outcomes(mine),
                cost=cost,
                promises=promised[channel],
                recovered=money_back,
                cost_to_collect=_ratios(cost, money_back),
            )
        )
    return stats


def _outcomes(contacts: list[_Contact]) -> dict[str, int]:
    counts = Counter(
        (status.value if (status := final_status(c.outcomes)) is not None else "pending") for c in contacts
    )
    return dict(sorted(counts.items()))


def _touches(contacts: Iterable[_Contact]) -> dict[str, list[tuple[datetime, Channel]]]:
    """Each debtor's sends (provider-accepted contacts) in time order."""
    touches: dict[str, list[tuple[datetime, Channel]]] = defaultdict(list)
    for contact in contacts:
        if (at := contact.accepted_at) is not None:
            touches[contact.debtor_id].append((at, contact.channel))
    for items in touches.values():
        items.sort(key=lambda item: item[0])
    return touches


def _last_touch(
    touches: Mapping[str, list[tuple[datetime, Channel]]], debtor: str, at: datetime
) -> Channel | None:
    before = [channel for when, channel in touches.get(debtor, []) if when <= at]
    return before[-1] if before else None


def _recovered(account: _Account) -> list[ev.PaymentPosted]:
    return [p for p in account.payments if p.posted_at >= account.entered]


def _verdict(
    account: _Account, promise: ev.PromiseToPayRecorded, grace_days: int, as_of: datetime | None
) -> str:
    deadline: date = promise.promised_date + timedelta(days=grace_days)
    paid = sum(
        (
            p.amount
            for p in account.payments
            if p.currency == promise.currency
            and p.posted_at >= promise.recorded_at
            and p.posted_at.date() <= deadline
        ),
        Decimal(0),
    )
    if paid >= promise.amount:
        return "kept"
    return "pending" if as_of is not None and as_of.date() <= deadline else "broken"


def _curve(accounts: list[_Account], last_day: int) -> list[CurvePoint]:
    amounts: dict[tuple[str, int], Decimal] = defaultdict(Decimal)
    for account in accounts:
        for payment in _recovered(account):
            amounts[(payment.currency, _day(payment.posted_at, account.entered))] += payment.amount
    points = []
    for currency in sorted({currency for currency, _ in amounts}):
        running = Decimal(0)
        for day in range(last_day + 1):
            running += amounts.get((currency, day), Decimal(0))
            points.append(CurvePoint(currency=currency, day=day, recovered=running))
    return points


def _day(at: datetime, entered: datetime) -> int:
    return max(0, (at - entered).days)


def _compliance(decisions: Iterable[ev.ComplianceDecision]) -> Compliance:
    by_decision: Counter[str] = Counter()
    by_reason: Counter[tuple[str, str]] = Counter()
    for decision in decisions:
        by_decision[decision.decision.value] += 1
        for reason in [r.value for r in decision.reasons] or ["none"]:
            by_reason[(decision.decision.value, reason)] += 1
    return Compliance(
        decisions=dict(sorted(by_decision.items())),
        by_reason=[
            DecisionCount(decision=d, reason=r, count=n)
            for (d, r), n in sorted(by_reason.items(), key=lambda item: (item[0][0], -item[1], item[0][1]))
        ],
    )


# ---- money and rates ------------------------------------------------------------------------


def _sum_money(items: Iterable[tuple[str, Decimal]]) -> Money:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for currency, amount in items:
        if amount:
            totals[currency] += amount
    return dict(sorted(totals.items()))


def _ratios(numerators: Money, denominators: Money) -> Money:
    """Per currency where both sides exist and the denominator is not zero: currencies are never converted."""
    return {
        currency: (amount / denominators[currency]).quantize(_RATIO, ROUND_HALF_EVEN)
        for currency, amount in numerators.items()
        if denominators.get(currency)
    }


def _rate(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) / Decimal(whole)).quantize(_RATE, ROUND_HALF_EVEN) if whole else None
