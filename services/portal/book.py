"""The portal's read model: per debtor, what the log says about them, built from the account and outcome
topics; pure (``apply`` one decoded envelope at a time), fed by ``services.portal.follow``.

What is owed, per account: the newest ``AccountOverdue`` (by ``as_of``) gives the amount past due and the
balance; payments posted after it come off what is past due, and the newest one's ``outstanding_after`` is
the balance. An account is in collections while it has an overdue that no cure, closure, restructuring or
payment in full came after. It also remembers every ``ce_id`` read, so that an action the portal already
published (a double submit after a restart) is recognised.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from schemas import events as ev
from services.core.codec import Envelope

RESOLVING = frozenset(
    {
        ev.AccountStatus.CURED,
        ev.AccountStatus.CLOSED,
        ev.AccountStatus.RESTRUCTURED,
        ev.AccountStatus.CHARGED_OFF,
    }
)
KEPT_PAYMENTS = 10
KEPT_CONTACTS = 50


@dataclass
class AccountFile:
    account_id: str
    overdue: ev.AccountOverdue | None = None
    payments: list[ev.PaymentPosted] = field(default_factory=list)
    reversed: set[str] = field(default_factory=set)
    promises: list[ev.PromiseToPayRecorded] = field(default_factory=list)
    status: tuple[datetime, ev.AccountStatus] | None = None

    def _after_overdue(self) -> list[ev.PaymentPosted]:
        if self.overdue is None:
            return []
        return [
            p for p in self.payments if p.posted_at > self.overdue.as_of and p.payment_id not in self.reversed
        ]

    @property
    def past_due(self) -> Decimal:
        if self.overdue is None:
            return Decimal(0)
        paid = sum((p.amount for p in self._after_overdue()), Decimal(0))
        return max(Decimal(0), self.overdue.amount_due - paid)

    @property
    def outstanding(self) -> Decimal:
        later = self._after_overdue()
        if later:
            return max(later, key=lambda p: p.posted_at).outstanding_after
        return self.overdue.total_outstanding if self.overdue else Decimal(0)

    @property
    def in_collections(self) -> bool:
        if self.overdue is None:
            return False
        if self.status is not None and self.status[1] in RESOLVING and self.status[0] >= self.overdue.as_of:
            return False
        return self.outstanding > 0 and self.past_due > 0

    @property
    def recent_payments(self) -> list[ev.PaymentPosted]:
        live = [p for p in self.payments if p.payment_id not in self.reversed]
        return sorted(live, key=lambda p: p.posted_at, reverse=True)


@dataclass(frozen=True, slots=True)
class Contact:
    channel: str
    status: str
    at: datetime


@dataclass
class DebtorFile:
    debtor_id: str
    profile: ev.DebtorProfileUpdated | None = None
    profile_time: datetime | None = None
    accounts: dict[str, AccountFile] = field(default_factory=dict)
    contacts: deque[Contact] = field(default_factory=lambda: deque(maxlen=KEPT_CONTACTS))

    def account(self, account_id: str) -> AccountFile:
        return self.accounts.setdefault(account_id, AccountFile(account_id))

    @property
    def language(self) -> str:
        return self.profile.language if self.profile else "en-US"

    @property
    def timezone(self) -> str | None:
        return self.profile.timezone if self.profile else None

    def factors(self) -> dict[ev.KnowledgeFactorKind, ev.KnowledgeFactor]:
        """One factor per kind (the first the profile lists)."""
        found: dict[ev.KnowledgeFactorKind, ev.KnowledgeFactor] = {}
        for factor in self.profile.knowledge_factors if self.profile else []:
            found.setdefault(factor.kind, factor)
        return found

    def in_collections(self) -> list[AccountFile]:
        return sorted((a for a in self.accounts.values() if a.in_collections), key=lambda a: a.account_id)


class Book:
    def __init__(self, max_ids: int = 1_000_000) -> None:
        self.debtors: dict[str, DebtorFile] = {}
        self._ids: OrderedDict[str, None] = OrderedDict()
        self.max_ids = max_ids

    def debtor(self, debtor_id: str) -> DebtorFile | None:
        return self.debtors.get(debtor_id)

    def seen(self, event_id: str) -> bool:
        return event_id in self._ids

    def apply(self, envelope: Envelope[BaseModel]) -> None:
        if envelope.id in self._ids:
            return
        self._ids[envelope.id] = None
        if len(self._ids) > self.max_ids:
            self._ids.popitem(last=False)
        event = envelope.event
        debtor_id = getattr(event, "debtor_id", None)
        if not isinstance(debtor_id, str):
            return
        file = self.debtors.setdefault(debtor_id, DebtorFile(debtor_id))
        match event:
            case ev.DebtorProfileUpdated():
                if file.profile_time is None or envelope.time >= file.profile_time:
                    file.profile, file.profile_time = event, envelope.time
            case ev.AccountOverdue():
                account = file.account(event.account_id)
                if account.overdue is None or event.as_of >= account.overdue.as_of:
                    account.overdue = event
            case ev.PaymentPosted():
                account = file.account(event.account_id)
                if all(p.payment_id != event.payment_id for p in account.payments):
                    account.payments = sorted([*account.payments, event], key=lambda p: p.posted_at)[
                        -KEPT_PAYMENTS:
                    ]
            case ev.PaymentReversed():
                file.account(event.account_id).reversed.add(event.payment_id)
            case ev.PromiseToPayRecorded():
                file.account(event.account_id).promises.append(event)
            case ev.AccountStatusChanged():
                account = file.account(event.account_id)
                if account.status is None or event.effective_at >= account.status[0]:
                    account.status = (event.effective_at, event.status)
            case ev.ContactOutcome() if event.final:
                file.contacts.append(Contact(event.channel.value, event.status.value, event.occurred_at))
            case _:
                pass


def local_today(now: datetime, timezone: str | None) -> date:
    """The debtor's own day (UTC's when the profile has no zone)."""
    return now.astimezone(ZoneInfo(timezone)).date() if timezone else now.date()
