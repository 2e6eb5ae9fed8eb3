"""The simulated bank as Apache Fineract: what its core banking writes to Fineract's topic, and what the bank
still publishes on the platform's contract.

Fineract knows loans, repayments and delinquency; it knows nothing of time zones, consents, jurisdictions or
promises to pay, so a bank running it publishes the debtor profiles and the promises its agents take itself
(docs/fineract.md, "What the bank must add"). The ids are Fineract's: a client and a loan are numbers, and the
adapter names the debtor and the account by them.

Fineract raises the overdue event once per installment, not every night: the first night a loan is overdue
the bank writes the loan (so the adapter learns its client, product, currency and balance) and the overdue
event; escalation counts the days past due from then on by itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime

from pydantic import BaseModel

from schemas import events as ev
from schemas.values import minor_units
from services.fineract.encode import Encoded, Encoder
from services.simulator.population import Debtor

TOPIC = "external-events"  # Fineract's default topic name


def fineract_ids(debtors: Iterable[Debtor]) -> None:
    """Renumber the population as Fineract numbers its clients and loans (from 1), in place."""
    for debtor in debtors:
        debtor.debtor_id = str(int(debtor.debtor_id.lstrip("D")) + 1)
        for loan in debtor.loans:
            loan.account_id = str(int(loan.account_id.lstrip("A")) + 10)


@dataclass
class FineractBank:
    """Turns the simulated bank's events into Fineract's records, and keeps what Fineract cannot say."""

    encoder: Encoder = field(default_factory=Encoder)
    _loans: set[str] = field(default_factory=set)
    _overdue: set[tuple[str, date]] = field(default_factory=set)
    _transactions: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def split(self, events: Iterable[BaseModel], at: datetime) -> tuple[list[BaseModel], list[Encoded]]:
        """(the events the bank publishes itself, the records Fineract writes), in order."""
        ours: list[BaseModel] = []
        records: list[Encoded] = []
        for event in events:
            match event:
                case ev.AccountOverdue():
                    records.extend(self._overdue_event(event, at))
                case ev.PaymentPosted():
                    records.append(
                        self.encoder.repayment(
                            int(event.account_id),
                            next(self._transactions),
                            at,
                            amount=event.amount,
                            outstanding=event.outstanding_after,
                            currency=event.currency,
                            places=minor_units(event.currency),
                        )
                    )
                case ev.AccountStatusChanged(status=ev.AccountStatus.CURED):
                    # Out of every delinquency range: the adapter's cure.
                    records.append(self.encoder.delinquency(int(event.account_id), at, since=None))
                case _:
                    ours.append(event)
        return ours, records

    def _overdue_event(self, event: ev.AccountOverdue, at: datetime) -> list[Encoded]:
        loan_id, places = int(event.account_id), minor_units(event.currency)
        records = []
        if event.account_id not in self._loans:
            self._loans.add(event.account_id)
            records.append(
                self.encoder.loan(
                    loan_id,
                    int(event.debtor_id),
                    at,
                    outstanding=event.total_outstanding,
                    product=event.product,
                    currency=event.currency,
                    places=places,
                    event_type="LoanDisbursalBusinessEvent",
                )
            )
        if (event.account_id, event.due_date) not in self._overdue:
            self._overdue.add((event.account_id, event.due_date))
            records.append(
                self.encoder.overdue(
                    loan_id,
                    at,
                    due_date=event.due_date,
                    past_due=event.amount_due,
                    currency=event.currency,
                    places=places,
                )
            )
        return records
