"""The stand-in core banking system and its customers' reactions, as pure, seeded decisions.

``CoreBanking`` publishes what a core banking system publishes (overdue accounts every night, payments,
promises taken by agents, cures). ``Customers`` decides how each debtor reacts to each contact the provider
sandbox received for them; the demo driver carries those reactions out through the sandbox (STOP replies,
keypad input) or through core banking (payments, promises), like a real phone and a real bank would.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from schemas import events as ev
from schemas.vocab import Channel
from services.simulator.population import Debtor, Loan


@dataclass(frozen=True, slots=True)
class Payment:
    debtor_id: str
    account_id: str
    in_full: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class AgentPromise:
    """The debtor calls the bank and promises; the agent records it in core banking."""

    debtor_id: str
    account_id: str
    promised_date: date
    kept: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class Reply:
    """An inbound SMS from the debtor's phone (an opt-out in their language)."""

    debtor_id: str
    body: str


@dataclass(frozen=True, slots=True)
class Keypad:
    call_sid: str
    digits: str


Action = Payment | AgentPromise | Reply | Keypad


class CoreBanking:
    """Loans and their events. Paying the instalment cures a loan; paying the balance settles it."""

    def __init__(self, debtors: list[Debtor]) -> None:
        self.debtors = {d.debtor_id: d for d in debtors}
        self.recovered: dict[str, Decimal] = {}  # per currency: amounts in different currencies never add up

    def loan(self, debtor_id: str, account_id: str) -> Loan | None:
        debtor = self.debtors.get(debtor_id)
        return (
            next((loan for loan in debtor.loans if loan.account_id == account_id), None) if debtor else None
        )

    def end_of_day(self, today: date, at: datetime) -> list[BaseModel]:
        events: list[BaseModel] = []
        for debtor in self.debtors.values():
            for loan in debtor.loans:
                if loan.settled or loan.cured:
                    continue
                events.append(
                    ev.AccountOverdue(
                        debtor_id=debtor.debtor_id,
                        account_id=loan.account_id,
                        product=loan.product,
                        currency=loan.currency,
                        amount_due=loan.instalment,
                        total_outstanding=loan.outstanding,
                        days_past_due=max(1, loan.days_past_due(today)),
                        due_date=loan.due_date,
                        risk_score=loan.risk_score,
                        as_of=at,
                    )
                )
        return events

    def pay(self, payment: Payment) -> list[BaseModel]:
        loan = self.loan(payment.debtor_id, payment.account_id)
        if loan is None or loan.settled or loan.cured:
            return []
        amount = loan.outstanding if payment.in_full else min(loan.instalment, loan.outstanding)
        loan.outstanding -= amount
        self.recovered[loan.currency] = self.recovered.get(loan.currency, Decimal(0)) + amount
        events: list[BaseModel] = [
            ev.PaymentPosted(
                debtor_id=payment.debtor_id,
                account_id=loan.account_id,
                payment_id=f"P-{loan.account_id}-{payment.at:%Y%m%d%H%M}",
                currency=loan.currency,
                amount=amount,
                outstanding_after=loan.outstanding,
                posted_at=payment.at,
            )
        ]
        if loan.outstanding == 0:
            loan.settled = True
        else:
            loan.cured = True
            events.append(
                ev.AccountStatusChanged(
                    debtor_id=payment.debtor_id,
                    account_id=loan.account_id,
                    status=ev.AccountStatus.CURED,
                    effective_at=payment.at,
                )
            )
        return events

    def promise(self, promise: AgentPromise) -> list[BaseModel]:
        loan = self.loan(promise.debtor_id, promise.account_id)
        if loan is None or loan.settled or loan.cured:
            return []
        return [
            ev.PromiseToPayRecorded(
                debtor_id=promise.debtor_id,
                account_id=loan.account_id,
                promise_id=f"PTP-{loan.account_id}-{promise.at:%Y%m%d%H%M}",
                currency=loan.currency,
                amount=loan.instalment,
                promised_date=promise.promised_date,
                source=ev.PromiseSource.AGENT,
                recorded_at=promise.at,
            )
        ]


class Customers:
    """Seeded reactions: the same seed, debtor and contact always give the same reaction."""

    def __init__(self, seed: int, bank: CoreBanking, keypad_promise_days: int = 3) -> None:
        self.seed = seed
        self.bank = bank
        self.keypad_promise_days = keypad_promise_days

    def _rng(self, *parts: str) -> random.Random:
        digest = hashlib.sha256("\x1f".join((str(self.seed), *parts)).encode()).digest()
        return random.Random(int.from_bytes(digest[:8], "big"))

    def on_message(self, debtor_id: str, channel: Channel, contact: str, at: datetime) -> list[Action]:
        """A delivered SMS or email: maybe a STOP, a payment in a few days, or a promise by phone."""
        debtor = self.bank.debtors[debtor_id]
        persona, rng = debtor.persona, self._rng(debtor_id, contact)
        actions: list[Action] = []
        if channel is Channel.SMS and rng.random() < persona.replies_stop:
            return [
                Reply(
                    debtor_id,
                    "退订" if debtor.region.language == "zh-CN" else rng.choice(["STOP", "stop pls"]),
                )
            ]
        loan = self._open_loan(debtor)
        if loan is None:
            return []
        roll = rng.random()
        if roll < persona.pays_after_contact:
            actions.append(
                Payment(
                    debtor_id,
                    loan.account_id,
                    rng.random() < persona.pays_in_full,
                    self._daytime(debtor, at, rng.randint(0, 3), rng),
                )
            )
        elif roll < persona.pays_after_contact + persona.promises * 0.5:
            called = self._daytime(debtor, at, rng.randint(0, 1), rng)
            promised = called.date() + timedelta(days=rng.randint(3, 7))
            actions.append(
                AgentPromise(
                    debtor_id, loan.account_id, promised, rng.random() < persona.keeps_promise, called
                )
            )
        return actions

    def on_call(self, debtor_id: str, contact: str, call_sid: str, at: datetime) -> list[Action]:
        """A call answered in person, waiting at the menu: 1 promises, 2 asks for an agent, 9 hangs up. The
        reaction is seeded by ``contact`` (what identifies the call from one run to the next), the keys go
        to ``call_sid``."""
        debtor = self.bank.debtors[debtor_id]
        persona, rng = debtor.persona, self._rng(debtor_id, contact)
        roll = rng.random()
        loan = self._open_loan(debtor)
        if loan is not None and roll < persona.promises:
            actions: list[Action] = [Keypad(call_sid, "1")]
            if rng.random() < persona.keeps_promise:
                when = self._daytime(debtor, at, rng.randint(1, self.keypad_promise_days), rng)
                actions.append(Payment(debtor_id, loan.account_id, False, when))
            return actions
        if roll < persona.promises + 0.15:
            return [Keypad(call_sid, "2")]
        return [Keypad(call_sid, "9")]

    def on_promise_date(self, promise: AgentPromise) -> list[Action]:
        if not promise.kept:
            return []
        debtor = self.bank.debtors[promise.debtor_id]
        when = datetime.combine(promise.promised_date, time(12), tzinfo=ZoneInfo(debtor.region.timezone))
        return [Payment(promise.debtor_id, promise.account_id, False, when)]

    def self_cures(self, today: date, at: datetime) -> list[Action]:
        actions: list[Action] = []
        for debtor in self.bank.debtors.values():
            loan = self._open_loan(debtor)
            if (
                loan is not None
                and self._rng(debtor.debtor_id, today.isoformat()).random() < debtor.persona.self_cure_daily
            ):
                actions.append(Payment(debtor.debtor_id, loan.account_id, False, at))
        return actions

    @staticmethod
    def _open_loan(debtor: Debtor) -> Loan | None:
        return next((loan for loan in debtor.loans if not loan.settled and not loan.cured), None)

    @staticmethod
    def _daytime(debtor: Debtor, after: datetime, days: int, rng: random.Random) -> datetime:
        zone = ZoneInfo(debtor.region.timezone)
        day = after.astimezone(zone).date() + timedelta(days=days)
        moment = datetime.combine(
            day, time(rng.randint(9, 19)), tzinfo=zone
        )  # on the hour: fewer clock steps
        return max(moment, after + timedelta(minutes=5))
