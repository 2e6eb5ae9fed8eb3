"""Builds event logs by hand for the reporting and audit tests: each helper appends one event, published at
the time given, as the broker would return it (an envelope with its ce_id and ce_time)."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from pydantic import BaseModel

from schemas import events as ev
from schemas.vocab import Channel, DecisionKind, OutcomeStatus, ReasonCode, Relation, RequestKind
from services.core.codec import Envelope, type_name

NY_PHONE = "+12125550100"
LA_PHONE = "+13105550100"
BOSTON_PHONE = "+16175550100"


def utc(day: int, hour: int, minute: int = 0, month: int = 6) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


class Logbook:
    def __init__(self) -> None:
        self.envelopes: list[Envelope[BaseModel]] = []
        self._ids = itertools.count(1)

    def add(self, event: BaseModel, at: datetime, id: str | None = None) -> Envelope[BaseModel]:
        envelope = Envelope(
            id=id or f"ce-{next(self._ids)}",
            source="/tests",
            type=type_name(type(event)),
            time=at,
            subject=getattr(event, "debtor_id", None),
            event=event,
        )
        self.envelopes.append(envelope)
        return envelope

    def profile(
        self,
        debtor: str,
        at: datetime,
        *,
        timezone: str | None = "America/New_York",
        phones: tuple[str, ...] = (NY_PHONE,),
        jurisdictions: tuple[str, ...] = ("US",),
        flags: tuple[str, ...] = (),
        others: tuple[tuple[str, Relation], ...] = (),
    ) -> None:
        """A profile; ``others``: phones of other people (number, relation), texts consented."""
        points = [
            ev.ContactPoint(type=ev.ContactPointType.PHONE, address=p, consents=[Channel.SMS, Channel.VOICE])
            for p in phones
        ]
        points += [
            ev.ContactPoint(type=ev.ContactPointType.PHONE, address=p, consents=[Channel.SMS], relation=r)
            for p, r in others
        ]
        points.append(
            ev.ContactPoint(
                type=ev.ContactPointType.EMAIL, address=f"{debtor}@example.com", consents=[Channel.EMAIL]
            )
        )
        self.add(
            ev.DebtorProfileUpdated(
                debtor_id=debtor,
                name="Alex Doe",
                contact_points=points,
                timezone=timezone,
                jurisdictions=list(jurisdictions),
                flags=list(flags),
            ),
            at,
        )

    def overdue(
        self,
        debtor: str,
        at: datetime,
        *,
        account: str = "a1",
        balance: str = "1000",
        currency: str = "USD",
        dpd: int = 5,
        product: str = "personal_loan",
    ) -> None:
        self.add(
            ev.AccountOverdue(
                debtor_id=debtor,
                account_id=account,
                product=product,
                currency=currency,
                amount_due=Decimal(100),
                total_outstanding=Decimal(balance),
                days_past_due=dpd,
                due_date=date(2026, 5, 27),
                as_of=at,
            ),
            at,
        )

    def payment(
        self,
        debtor: str,
        at: datetime,
        amount: str,
        *,
        account: str = "a1",
        after: str = "500",
        currency: str = "USD",
        payment_id: str | None = None,
    ) -> None:
        self.add(
            ev.PaymentPosted(
                debtor_id=debtor,
                account_id=account,
                payment_id=payment_id or f"pay-{next(self._ids)}",
                currency=currency,
                amount=Decimal(amount),
                outstanding_after=Decimal(after),
                posted_at=at,
            ),
            at,
        )

    def promise(self, debtor: str, at: datetime, amount: str, by: date, *, account: str = "a1") -> None:
        self.add(
            ev.PromiseToPayRecorded(
                debtor_id=debtor,
                account_id=account,
                promise_id=f"ptp-{next(self._ids)}",
                currency="USD",
                amount=Decimal(amount),
                promised_date=by,
                source=ev.PromiseSource.VOICE_KEYPAD,
                recorded_at=at,
            ),
            at,
        )

    def status(self, debtor: str, at: datetime, status: ev.AccountStatus, *, account: str = "a1") -> None:
        self.add(
            ev.AccountStatusChanged(debtor_id=debtor, account_id=account, status=status, effective_at=at), at
        )

    def consent(
        self, debtor: str, at: datetime, address: str, channel: Channel, change: ev.ConsentChange
    ) -> None:
        self.add(
            ev.ConsentChanged(
                debtor_id=debtor,
                address=address,
                channel=channel,
                change=change,
                source=ev.ConsentSource.SMS_REPLY,
                occurred_at=at,
            ),
            at,
        )

    def contact(
        self,
        debtor: str,
        at: datetime,
        channel: Channel,
        statuses: tuple[OutcomeStatus, ...] = (OutcomeStatus.SENT,),
        *,
        account: str = "a1",
        arm: str = "champion",
        destination: str | None = None,
        kind: RequestKind = RequestKind.OUTREACH,
        template: str = "reminder",
        step: str = "s1",
        cost: str = "0",
        sent_after: timedelta = timedelta(seconds=5),
        valid_for: timedelta = timedelta(hours=4),
        approve: bool = True,
    ) -> str:
        """A request decided and approved at ``at``, sent ``sent_after`` later, then its callbacks: the first
        status is the worker's (carrying ``cost``), the others arrive a minute apart, the last one final."""
        request_id = f"req-{next(self._ids)}"
        to = destination or (f"{debtor}@example.com" if channel is Channel.EMAIL else NY_PHONE)
        common = {"debtor_id": debtor, "request_id": request_id, "account_id": account, "channel": channel}
        self.add(
            ev.ContactRequested(
                **common,
                destination=to,
                template=template,
                kind=kind,
                strategy="standard",
                strategy_version="1",
                arm=arm,
                step=step,
                requested_at=at,
            ),
            at,
        )
        if approve:
            self.add(
                ev.ComplianceDecision(
                    **common,
                    decision_id=f"dec-{request_id}",
                    decision=DecisionKind.ALLOW,
                    pack_versions={"BANK": "2026.1", "US": "2026.1"},
                    strategy="standard",
                    arm=arm,
                    decided_at=at,
                ),
                at,
            )
            self.add(
                ev.ContactApproved(
                    **common,
                    decision_id=f"dec-{request_id}",
                    destination=to,
                    template=template,
                    language="en-US",
                    kind=kind,
                    strategy="standard",
                    strategy_version="1",
                    arm=arm,
                    approved_at=at,
                    valid_until=at + valid_for,
                ),
                at,
            )
        for index, status in enumerate(statuses):
            when = at + sent_after + timedelta(minutes=index)
            self.add(
                ev.ContactOutcome(
                    **common,
                    outcome_id=f"out-{request_id}-{index}",
                    status=status,
                    final=index == len(statuses) - 1,
                    provider="twilio",
                    cost=Decimal(cost) if index == 0 else Decimal(0),
                    strategy="standard",
                    arm=arm,
                    occurred_at=when,
                ),
                when,
            )
        return request_id

    def block(
        self, debtor: str, at: datetime, channel: Channel, reason: ReasonCode, arm: str = "champion"
    ) -> None:
        request_id = f"req-{next(self._ids)}"
        self.add(
            ev.ComplianceDecision(
                debtor_id=debtor,
                decision_id=f"dec-{request_id}",
                request_id=request_id,
                account_id="a1",
                channel=channel,
                decision=DecisionKind.BLOCK,
                reasons=[reason],
                pack_versions={"BANK": "2026.1"},
                arm=arm,
                decided_at=at,
            ),
            at,
        )
