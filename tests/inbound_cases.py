"""One table of inbound samples, good and bad, that the publish command and the consumers must agree on.

Each case is one event line as core banking would hand it to ``collections publish`` and the verdicts of
both sides: what ``publish --dry-run`` says (accepted, or refused with a phrase of its message) and what a
consumer does with the same record on the account topic (applies it, dead-letters it with a reason, or keeps
a profile without the value that did not parse). They differ only where the design says so: a consumer never
discards a profile, so that a hard stop in it is never lost; ``publish`` refuses the line instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

NOW = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)

APPLIED = "applied"
KEPT_WITHOUT_IT = "kept without it"  # a profile kept, its bad value dropped and counted


@dataclass(frozen=True)
class Case:
    name: str
    type: str
    data: dict[str, Any]
    publish: str | None  # None: accepted; else a phrase of the refusal
    consumer: str  # APPLIED, KEPT_WITHOUT_IT, or the dead-letter reason
    time: datetime = NOW
    extra: dict[str, Any] = field(default_factory=dict)

    def line(self, debtor: str) -> dict[str, Any]:
        """The event line for ``debtor`` (each case gets its own, so that verdicts cannot mix)."""
        return {"type": self.type, "time": self.time.isoformat(), "data": self.payload(debtor)}

    def payload(self, debtor: str) -> dict[str, Any]:
        return self.data if self.type == CONTROL else {**self.data, "debtor_id": debtor}

    def key(self, debtor: str) -> str:
        return f"{self.data['scope']}:{self.data['value']}" if self.type == CONTROL else debtor


def _profile(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "Alex Doe",
        "timezone": "America/New_York",
        "language": "en-US",
        "jurisdictions": ["US"],
        "contact_points": [{"type": "phone", "address": "+14155550100", "consents": ["sms", "voice"]}],
    }
    return base | changes


def _phone(address: str) -> dict[str, Any]:
    return _profile(contact_points=[{"type": "phone", "address": address, "consents": ["sms"]}])


def _overdue(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "account_id": "acc-1",
        "product": "personal_loan",
        "currency": "USD",
        "amount_due": "250.00",
        "total_outstanding": "4800.00",
        "days_past_due": 5,
        "due_date": "2026-06-05",
        "as_of": "2026-06-10T02:00:00Z",
    }
    return base | changes


def _payment(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "account_id": "acc-1",
        "payment_id": "pay-1",
        "currency": "USD",
        "amount": "250.00",
        "outstanding_after": "4550.00",
        "posted_at": "2026-06-10T14:02:00Z",
    }
    return base | changes


PROFILE, OVERDUE, PAYMENT = "DebtorProfileUpdated", "AccountOverdue", "PaymentPosted"
CONTROL = "OutreachControlChanged"
SCHEMA = "schema_violation"

CASES = [
    # ---- good ---------------------------------------------------------------------------------------
    Case("profile", PROFILE, _profile(), None, APPLIED),
    Case("phone with spaces and dashes", PROFILE, _phone("+1 415-555-0100"), None, APPLIED),
    Case("national phone read in the jurisdiction", PROFILE, _phone("(415) 555-0100"), None, APPLIED),
    Case("unknown field from a newer release", PROFILE, _profile(nickname="Al"), None, APPLIED),
    Case("overdue", OVERDUE, _overdue(), None, APPLIED),
    Case("trailing zeros are not decimals", OVERDUE, _overdue(amount_due="245.67000000"), None, APPLIED),
    Case("yen without decimals", OVERDUE, _overdue(currency="JPY", amount_due="250"), None, APPLIED),
    Case("dinar with three decimals", OVERDUE, _overdue(currency="KWD", amount_due="250.125"), None, APPLIED),
    Case("payment", PAYMENT, _payment(), None, APPLIED),
    Case("time within the clock skew", PAYMENT, _payment(), None, APPLIED, time=NOW + timedelta(minutes=4)),
    # ---- a profile value that does not parse: publish refuses, a consumer keeps the rest --------------
    Case(
        "time zone not in tzdata", PROFILE, _profile(timezone="Mars/Olympus"), "Mars/Olympus", KEPT_WITHOUT_IT
    ),
    Case("phone too short", PROFILE, _phone("+1555"), "phone", KEPT_WITHOUT_IT),
    Case("phone without its area code", PROFILE, _phone("555-0101"), "phone", KEPT_WITHOUT_IT),
    Case(
        "email that is not one",
        PROFILE,
        _profile(contact_points=[{"type": "email", "address": "not-an-email", "consents": ["email"]}]),
        "email",
        KEPT_WITHOUT_IT,
    ),
    # A jurisdiction no loaded pack covers: the gatekeeper keeps the profile and blocks NO_PACK.
    Case("jurisdiction without a pack", PROFILE, _profile(jurisdictions=["XX"]), "no policy pack", APPLIED),
    # ---- refused by both ------------------------------------------------------------------------------
    Case("currency not in ISO 4217", OVERDUE, _overdue(currency="XYZ"), "currency", SCHEMA),
    Case("more decimals than the currency has", OVERDUE, _overdue(amount_due="250.123"), "decimals", SCHEMA),
    Case("decimals on yen", OVERDUE, _overdue(currency="JPY", amount_due="250.50"), "decimals", SCHEMA),
    Case("money as a JSON float", OVERDUE, _overdue(amount_due=250.1), "amount_due", SCHEMA),
    Case("money as a JSON integer", OVERDUE, _overdue(amount_due=250), "not a JSON number", SCHEMA),
    Case("money with a leading zero", OVERDUE, _overdue(amount_due="0250.00"), "amount_due", SCHEMA),
    Case("money with an exponent", OVERDUE, _overdue(amount_due="1e3"), "amount_due", SCHEMA),
    Case("negative money", PAYMENT, _payment(amount="-1.00"), "amount", SCHEMA),
    Case("days past due as text", OVERDUE, _overdue(days_past_due="five"), "days_past_due", SCHEMA),
    Case(
        "missing account",
        PAYMENT,
        {k: v for k, v in _payment().items() if k != "account_id"},
        "account_id",
        SCHEMA,
    ),
    Case(
        "time beyond the clock skew",
        PAYMENT,
        _payment(),
        "future_time",
        "future_time",
        time=NOW + timedelta(days=3650),
    ),
    # The platform's own events: core banking must not write them, and the account topic does not carry them.
    Case(
        "a contact request",
        "ContactRequested",
        {
            "request_id": "r-1",
            "account_id": "acc-1",
            "channel": "sms",
            "destination": "+14155550100",
            "template": "reminder",
            "strategy": "standard",
            "strategy_version": "1",
            "arm": "champion",
            "requested_at": "2026-06-10T16:00:00Z",
        },
        "not an event this command publishes",
        "wrong_topic",
    ),
    Case(
        "an outreach control",
        CONTROL,
        {"scope": "channel", "value": "sms", "paused": True, "operator": "ops", "at": "2026-06-10T16:00:00Z"},
        "not an event this command publishes",
        "wrong_topic",
    ),
]
