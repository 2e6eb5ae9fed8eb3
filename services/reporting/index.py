"""The event log indexed once for the report: events deduplicated (by ``ce_id`` and by their own ids), put in
a stable order, grouped by account and by request, every amount converted into the reporting currency.

Order: by publication time, then by ``ce_id``, so that the same log gives the same report however the
broker interleaved its partitions. Attribution ties (two sends at the same instant) break on request id.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from pydantic import BaseModel

from schemas import events as ev
from schemas.vocab import Channel, OutcomeStatus
from services.core.codec import Envelope
from services.reporting.fx import Fx, UsedRate
from services.reporting.sends import CONVERSATION, DELIVERED, accepted_at

UNASSIGNED = "unassigned"

AccountKey = tuple[str, str]

RIGHT_PARTY: dict[Channel, frozenset[OutcomeStatus]] = {
    Channel.SMS: frozenset({OutcomeStatus.REPLIED}),
    Channel.EMAIL: frozenset({OutcomeStatus.REPLIED}),
    Channel.VOICE: CONVERSATION,
}
"""The debtor themself answered: stayed on a call (menu or agent), or replied to a message."""


@dataclass
class Contact:
    """One request with everything the log says about it; ``cost_value`` in the reporting currency."""

    request_id: str
    debtor_id: str
    account_id: str
    channel: Channel
    arm: str
    template: str = ""
    destination: str = ""
    step: str = ""
    requested_at: datetime | None = None
    requested: bool = False
    approved: bool = False
    outcomes: list[ev.ContactOutcome] = field(default_factory=list)
    cost_value: Decimal = Decimal(0)
    accepted_at: datetime | None = None  # set once every outcome is in: every figure asks for it

    @property
    def delivered(self) -> bool:
        return any(o.status in DELIVERED[self.channel] for o in self.outcomes)

    @property
    def conversation(self) -> bool:
        return self.channel is Channel.VOICE and any(o.status in CONVERSATION for o in self.outcomes)

    @property
    def right_party(self) -> bool:
        return any(o.status in RIGHT_PARTY[self.channel] for o in self.outcomes)


@dataclass
class Payment:
    event: ev.PaymentPosted
    value: Decimal


@dataclass
class Account:
    """An account that entered collections (has an ``AccountOverdue``): it entered at the first one's
    ``as_of``, with that notice's ``total_outstanding`` as the amount overdue at entry."""

    debtor_id: str
    account_id: str
    entered: datetime
    currency: str
    outstanding: Decimal
    outstanding_value: Decimal
    product: str
    notices: list[tuple[datetime, int]] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    promises: list[ev.PromiseToPayRecorded] = field(default_factory=list)
    cures: list[datetime] = field(default_factory=list)

    @property
    def cured_at(self) -> datetime | None:
        return self.cures[0] if self.cures else None

    def recovered(self) -> list[Payment]:
        return [p for p in self.payments if p.event.posted_at >= self.entered]


@dataclass
class Log:
    as_of: datetime | None = None
    events: int = 0
    contacts: dict[str, Contact] = field(default_factory=dict)
    accounts: dict[AccountKey, Account] = field(default_factory=dict)
    arms: dict[str, str] = field(default_factory=dict)
    decisions: dict[str, ev.ComplianceDecision] = field(default_factory=dict)
    escalations: dict[str, ev.EscalationRaised] = field(default_factory=dict)
    profiles: dict[str, list[tuple[datetime, ev.DebtorProfileUpdated]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    opt_outs: list[ev.ConsentChanged] = field(default_factory=list)
    debtors_named: set[str] = field(default_factory=set)
    accounts_named: set[AccountKey] = field(default_factory=set)
    paid_not_in_collections: set[AccountKey] = field(default_factory=set)
    payments_before_entry: int = 0
    rates_used: Counter[UsedRate] = field(default_factory=Counter)
    versions: set[str] = field(default_factory=set)

    def arm_of(self, debtor_id: str) -> str:
        return self.arms.get(debtor_id, UNASSIGNED)

    def profile(self, debtor_id: str, at: datetime) -> ev.DebtorProfileUpdated | None:
        """The newest profile of the debtor published at or before ``at``."""
        published = self.profiles.get(debtor_id, [])
        index = bisect.bisect_right([t for t, _ in published], at) - 1
        return published[index][1] if index >= 0 else None

    def sends(self) -> dict[str, list[Contact]]:
        """Each debtor's sends (provider-accepted contacts) by time, ties broken by request id."""
        sends: dict[str, list[Contact]] = defaultdict(list)
        for contact in self.contacts.values():
            if contact.accepted_at is not None:
                sends[contact.debtor_id].append(contact)
        for items in sends.values():
            items.sort(key=_send_order)
        return sends


def _send_order(contact: Contact) -> tuple[datetime, str]:
    assert contact.accepted_at is not None
    return contact.accepted_at, contact.request_id


def last_send(sends: list[Contact], at: datetime, channel: Channel | None = None) -> Contact | None:
    """The debtor's last send at or before ``at`` (on ``channel``, if given): the one credited."""
    before = [
        c
        for c in sends
        if c.accepted_at is not None and c.accepted_at <= at and (channel is None or c.channel is channel)
    ]
    return before[-1] if before else None


def promise_verdict(
    account: Account, promise: ev.PromiseToPayRecorded, grace_days: int, as_of: datetime | None
) -> str:
    """``kept`` when payments on the account in the promise's currency, posted from its recording up to its
    date plus ``grace_days``, reach its amount; ``pending`` while that day has not passed; else ``broken``."""
    deadline: date = promise.promised_date + timedelta(days=grace_days)
    paid = sum(
        (
            p.event.amount
            for p in account.payments
            if p.event.currency == promise.currency
            and p.event.posted_at >= promise.recorded_at
            and p.event.posted_at.date() <= deadline
        ),
        Decimal(0),
    )
    if paid >= promise.amount:
        return "kept"
    return "pending" if as_of is not None and as_of.date() <= deadline else "broken"


class _Converter:
    """Converts at the dated rates and counts how many amounts used each rate, for the report to show."""

    def __init__(self, fx: Fx, used: Counter[UsedRate]) -> None:
        self.fx = fx
        self.used = used

    def __call__(self, amount: Decimal, currency: str, at: datetime) -> Decimal:
        if not amount:
            return Decimal(0)
        rate = self.fx.rate(currency, at.date())
        if currency != self.fx.currency:
            self.used[rate] += 1
        return self.fx.apply(amount, rate)


LateEvent = ev.PaymentPosted | ev.PromiseToPayRecorded | ev.AccountStatusChanged


def index(envelopes: Iterable[Envelope[BaseModel]], fx: Fx) -> Log:
    log = Log()
    convert = _Converter(fx, log.rates_used)
    unique: dict[str, Envelope[BaseModel]] = {}
    for envelope in envelopes:
        unique.setdefault(envelope.id, envelope)
    ordered = sorted(unique.values(), key=lambda e: (e.time, e.id))
    log.events = len(ordered)
    log.as_of = ordered[-1].time if ordered else None
    outcome_ids: set[str] = set()
    payment_ids: set[tuple[str, str]] = set()
    promise_ids: set[tuple[str, str]] = set()
    opt_out_keys: set[tuple[str, str, Channel, datetime]] = set()
    late: list[LateEvent] = []
    for envelope in ordered:
        event = envelope.event
        debtor = getattr(event, "debtor_id", None)
        if isinstance(debtor, str):
            log.debtors_named.add(debtor)
            account_id = getattr(event, "account_id", None)
            if isinstance(account_id, str):
                log.accounts_named.add((debtor, account_id))
        match event:
            case ev.AccountOverdue():
                _notice(log, event, convert)
            case ev.DebtorProfileUpdated():
                log.profiles[event.debtor_id].append((envelope.time, event))
            case ev.ContactRequested():
                log.arms.setdefault(event.debtor_id, event.arm)
                log.versions.add(f"{event.strategy} {event.strategy_version}")
                contact = _contact(log, event)
                contact.requested = True
                contact.template = contact.template or event.template
                contact.destination = contact.destination or event.destination
                contact.step = event.step
                contact.requested_at = event.requested_at
            case ev.ContactApproved():
                contact = _contact(log, event)
                contact.approved = True
                contact.template = contact.template or event.template
                contact.destination = contact.destination or event.destination
            case ev.ContactOutcome() if event.outcome_id not in outcome_ids:
                outcome_ids.add(event.outcome_id)
                contact = _contact(log, event)
                contact.outcomes.append(event)
                contact.cost_value += convert(event.cost, event.cost_currency, event.occurred_at)
            case ev.ComplianceDecision():
                log.decisions.setdefault(event.decision_id, event)
            case ev.EscalationRaised():
                log.escalations.setdefault(event.escalation_id, event)
            case ev.ConsentChanged() if event.change is ev.ConsentChange.OPT_OUT:
                key = (event.debtor_id, event.address, event.channel, event.occurred_at)
                if key not in opt_out_keys:
                    opt_out_keys.add(key)
                    log.opt_outs.append(event)
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
    for contact in log.contacts.values():
        contact.accepted_at = accepted_at(contact.outcomes)
    _assign_arms(log)
    # Payments, promises and cures count only for accounts that entered collections, whenever they arrive.
    for event in late:
        _attach(log, event, convert)
    for account in log.accounts.values():
        account.cures.sort()
    return log


def _notice(log: Log, event: ev.AccountOverdue, convert: _Converter) -> None:
    key = (event.debtor_id, event.account_id)
    account = log.accounts.get(key)
    if account is None:
        account = log.accounts[key] = Account(
            event.debtor_id,
            event.account_id,
            event.as_of,
            event.currency,
            event.total_outstanding,
            convert(event.total_outstanding, event.currency, event.as_of),
            event.product,
        )
    account.notices.append((event.as_of, event.days_past_due))


def _contact(log: Log, event: ev.ContactRequested | ev.ContactApproved | ev.ContactOutcome) -> Contact:
    contact = log.contacts.get(event.request_id)
    if contact is None:
        contact = log.contacts[event.request_id] = Contact(
            event.request_id, event.debtor_id, event.account_id, event.channel, event.arm
        )
    elif not contact.arm:
        contact.arm = event.arm
    return contact


def _assign_arms(log: Log) -> None:
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


def _attach(log: Log, event: LateEvent, convert: _Converter) -> None:
    key = (event.debtor_id, event.account_id)
    account = log.accounts.get(key)
    if account is None:
        if isinstance(event, ev.PaymentPosted):
            log.paid_not_in_collections.add(key)
        return
    if isinstance(event, ev.PaymentPosted):
        if event.posted_at < account.entered:
            log.payments_before_entry += 1
            account.payments.append(Payment(event, Decimal(0)))
            return
        account.payments.append(Payment(event, convert(event.amount, event.currency, event.posted_at)))
        if event.paid_in_full:
            account.cures.append(event.posted_at)
    elif isinstance(event, ev.PromiseToPayRecorded):
        account.promises.append(event)
    elif event.effective_at >= account.entered:
        account.cures.append(event.effective_at)
