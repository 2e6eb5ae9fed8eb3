"""One valid sample of every event in the contract, for round trips and as a base for variations."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

from pydantic import BaseModel

from schemas import events as ev
from schemas.vocab import Channel, DecisionKind, OutcomeStatus, ReasonCode, RequestKind

T0 = datetime(2026, 6, 10, 15, 30, tzinfo=UTC)


def samples(debtor: str = "d-1", account: str = "a-1") -> list[BaseModel]:
    approved_until = datetime(2026, 6, 11, 1, 0, tzinfo=UTC)
    return [
        ev.AccountOverdue(
            debtor_id=debtor,
            account_id=account,
            product="personal_loan",
            currency="USD",
            amount_due=Decimal("120.50"),
            total_outstanding=Decimal("2400.00"),
            days_past_due=12,
            due_date=date(2026, 5, 29),
            risk_score=0.42,
            as_of=T0,
        ),
        ev.PaymentPosted(
            debtor_id=debtor,
            account_id=account,
            payment_id="p-1",
            currency="USD",
            amount=Decimal("120.50"),
            outstanding_after=Decimal("2279.50"),
            posted_at=T0,
        ),
        ev.PromiseToPayRecorded(
            debtor_id=debtor,
            account_id=account,
            promise_id="ptp-1",
            currency="USD",
            amount=Decimal("120.50"),
            promised_date=date(2026, 6, 15),
            source=ev.PromiseSource.VOICE_KEYPAD,
            recorded_at=T0,
        ),
        ev.AccountStatusChanged(
            debtor_id=debtor, account_id=account, status=ev.AccountStatus.DISPUTE_OPENED, effective_at=T0
        ),
        ev.DebtorProfileUpdated(
            debtor_id=debtor,
            name="Alex Doe",
            contact_points=[
                ev.ContactPoint(
                    type=ev.ContactPointType.PHONE,
                    address="+16175550100",
                    consents=[Channel.SMS, Channel.VOICE],
                ),
                ev.ContactPoint(
                    type=ev.ContactPointType.EMAIL, address="alex@example.com", consents=[Channel.EMAIL]
                ),
            ],
            timezone="America/New_York",
            language="en-US",
            jurisdictions=["US", "US-MA"],
            flags=[],
            inconvenient=[ev.LocalWindow(start=time(12), end=time(13))],
        ),
        ev.PaymentReversed(
            debtor_id=debtor,
            account_id=account,
            payment_id="p-1",
            currency="USD",
            amount=Decimal("120.50"),
            reversed_at=T0,
        ),
        ev.ContactRequested(
            debtor_id=debtor,
            request_id="r-1",
            account_id=account,
            channel=Channel.SMS,
            destination="+16175550100",
            template="reminder_soft",
            strategy="default",
            strategy_version="3",
            arm="champion",
            step="dpd1-sms",
            not_before=T0,
            expires_at=approved_until,
            requested_at=T0,
            variables={"payment_link": "https://pay.example/x"},
        ),
        ev.ContactCancelled(
            debtor_id=debtor,
            account_id=account,
            request_ids=["r-1"],
            reason=ev.CancelReason.PROMISE_TO_PAY,
            cancelled_at=T0,
        ),
        ev.ContactApproved(
            debtor_id=debtor,
            request_id="r-1",
            decision_id="dec-1",
            account_id=account,
            channel=Channel.SMS,
            destination="+16175550100",
            template="reminder_soft",
            language="en-US",
            kind=RequestKind.OUTREACH,
            strategy="default",
            strategy_version="3",
            arm="champion",
            approved_at=T0,
            valid_until=approved_until,
        ),
        ev.ComplianceDecision(
            debtor_id=debtor,
            decision_id="dec-1",
            request_id="r-1",
            account_id=account,
            channel=Channel.SMS,
            decision=DecisionKind.DEFER,
            reasons=[ReasonCode.QUIET_HOURS],
            not_before=approved_until,
            pack_versions={"BANK": "2026-01"},
            decided_at=T0,
        ),
        ev.ContactOutcome(
            debtor_id=debtor,
            outcome_id="o-1",
            request_id="r-1",
            account_id=account,
            channel=Channel.SMS,
            status=OutcomeStatus.DELIVERED,
            final=True,
            provider="twilio",
            provider_ref="SM0123",
            segments=1,
            cost=Decimal("0.0079"),
            occurred_at=T0,
        ),
        ev.ConsentChanged(
            debtor_id=debtor,
            address="+16175550100",
            channel=Channel.SMS,
            change=ev.ConsentChange.OPT_OUT,
            source=ev.ConsentSource.SMS_REPLY,
            occurred_at=T0,
        ),
        ev.WrongPartyReported(
            debtor_id=debtor,
            address="+16175550100",
            source=ev.WrongPartySource.PORTAL,
            reported_at=T0,
        ),
        ev.EscalationRaised(
            debtor_id=debtor,
            escalation_id="e-1",
            account_id=account,
            kind=ev.EscalationKind.LEGAL,
            reason="dpd >= 90",
            days_past_due=90,
            currency="USD",
            total_outstanding=Decimal("2400.00"),
            raised_at=T0,
        ),
        ev.EscalationRequested(
            debtor_id=debtor,
            request_id="e-1",
            account_id=account,
            kind=ev.EscalationKind.LEGAL,
            reason="dpd >= 90",
            days_past_due=90,
            currency="USD",
            total_outstanding=Decimal("2400.00"),
            strategy="standard",
            arm="champion",
            requested_at=T0,
        ),
        ev.OutreachControlChanged(
            scope=ev.ControlScope.CHANNEL, value="sms", paused=True, operator="ops-1", at=T0
        ),
        ev.DeadLetter(
            source_topic="collections.account.v1",
            source_partition=1,
            source_offset=7,
            consumer="escalation",
            reason="invalid_json",
            error="bad",
            key_b64="ZC0x",
            value_b64="e30=",
            headers=[("ce_id", "eA==")],
            failed_at=T0,
        ),
    ]
