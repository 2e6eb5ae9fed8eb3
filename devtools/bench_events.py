"""The benchmark's synthetic population and its events: each kind encoded once through the real codec, then
stamped per debtor by byte substitution, so a million records are ready in seconds, exactly as services write.

Debtor ``i`` is ``d{i:08d}`` with account ``a{i:08d}``, a US phone ``+1415{2000000 + i}`` (never in the
sandbox's fault table) and New York as stated zone; every instant is relative to ``NOW``, a Tuesday afternoon
inside every contact window, at which the first ladder step of a 1-day-overdue account is already due.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from pydantic import BaseModel

from schemas import events as ev
from schemas.topics import topic_for
from schemas.vocab import Channel, RequestKind
from services.core import codec
from services.gatekeeper.policy import PolicyBook
from services.gatekeeper.service import Gatekeeper
from services.gatekeeper.settings import GatekeeperSettings

# 14:00 in New York, 11:00 in Los Angeles (the phone's zone): allowed everywhere the debtor may be.
NOW = datetime(2026, 6, 2, 18, 0, tzinfo=UTC)
DUE = date(2026, 6, 1)
SOURCE = "/collections/bench"
MAX_DEBTORS = 8_000_000

_ID = "QQQQQQQQ"  # eight characters, replaced by the zero-padded debtor index
_PHONE = "PPPPPPP"  # seven digits of the phone number
_ID_BYTES, _PHONE_BYTES = _ID.encode(), _PHONE.encode()
_VARIABLES = {
    "name": "Alex",
    "payment_link": "https://pay.example.com/p/bench",
    "amount_due": "120.00",
    "currency": "USD",
    "total_outstanding": "2400.00",
    "first_instalment_date": "2026-06-09",
    "plan_3": "800.00",
    "plan_6": "400.00",
    "plan_12": "200.00",
}


class Record(NamedTuple):
    """One record ready to produce: the logical topic (without prefix), key, value and headers."""

    topic: str
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]


def debtor_id(index: int) -> str:
    return f"d{index:08d}"


def request_id(index: int) -> str:
    return f"r{index:08d}"


def phone(index: int) -> str:
    return f"+1415{2_000_000 + index:07d}"


class Template:
    """One event encoded by ``codec.encode`` with placeholders, stamped for each debtor index."""

    def __init__(self, event: BaseModel, kind: str, time: datetime = NOW) -> None:
        encoded = codec.encode(event, source=SOURCE, time=time, id=f"bench-{kind}-{_ID}")
        self.topic = topic_for(event)
        self.key = encoded.key
        self.value = encoded.value
        self.headers = encoded.headers

    def stamp(self, index: int) -> Record:
        if not 0 <= index < MAX_DEBTORS:
            raise ValueError(f"debtor index {index} out of range")
        number = f"{index:08d}".encode()
        digits = f"{2_000_000 + index:07d}".encode()
        value = self.value.replace(_ID_BYTES, number).replace(_PHONE_BYTES, digits)
        headers = [(name, raw.replace(_ID_BYTES, number)) for name, raw in self.headers]
        return Record(self.topic, self.key.replace(_ID_BYTES, number), value, headers)

    def many(self, indexes: Iterable[int]) -> list[Record]:
        return [self.stamp(i) for i in indexes]

    def each(self, indexes: Iterable[int]) -> Iterator[Record]:
        """Stamped one at a time, for sets too large to hold."""
        return (self.stamp(i) for i in indexes)


def profile() -> Template:
    """A full profile snapshot: US debtor in New York with an SMS/voice-consented phone and an email."""
    return Template(
        ev.DebtorProfileUpdated(
            debtor_id=f"d{_ID}",
            name="Alex Doe",
            timezone="America/New_York",
            language="en-US",
            jurisdictions=["US"],
            contact_points=[
                ev.ContactPoint(
                    type=ev.ContactPointType.PHONE,
                    address=f"+1415{_PHONE}",
                    consents=[Channel.SMS, Channel.VOICE],
                ),
                ev.ContactPoint(
                    type=ev.ContactPointType.EMAIL, address=f"d{_ID}@example.com", consents=[Channel.EMAIL]
                ),
            ],
        ),
        "profile",
        NOW - timedelta(days=2),
    )


def overdue() -> Template:
    """Core banking's end-of-day record: one day past due, so the ladder's first SMS is due at ``NOW``."""
    return Template(
        ev.AccountOverdue(
            debtor_id=f"d{_ID}",
            account_id=f"a{_ID}",
            product="personal_loan",
            currency="USD",
            amount_due=Decimal(120),
            total_outstanding=Decimal(2400),
            days_past_due=1,
            due_date=DUE,
            as_of=NOW - timedelta(hours=16),
        ),
        "overdue",
    )


def request(deferred_until: datetime | None = None) -> Template:
    """A ContactRequested as escalation writes it; ``deferred_until`` makes the gatekeeper hold it."""
    not_before = deferred_until or NOW
    return Template(
        ev.ContactRequested(
            debtor_id=f"d{_ID}",
            request_id=f"r{_ID}",
            account_id=f"a{_ID}",
            channel=Channel.SMS,
            destination=f"+1415{_PHONE}",
            template="reminder",
            language="en-US",
            kind=RequestKind.OUTREACH,
            strategy="standard",
            strategy_version="2026.11.1",
            arm="champion",
            step="2026-06-01/early/sms-reminder",
            variables=_VARIABLES,
            not_before=not_before,
            expires_at=not_before + timedelta(hours=48),
            requested_at=NOW,
        ),
        "deferred" if deferred_until else "request",
    )


def approval() -> Template:
    """A ContactApproved as the gatekeeper writes it, valid for the rest of the afternoon."""
    return Template(
        ev.ContactApproved(
            debtor_id=f"d{_ID}",
            request_id=f"r{_ID}",
            decision_id=f"c{_ID}",
            account_id=f"a{_ID}",
            channel=Channel.SMS,
            destination=f"+1415{_PHONE}",
            template="reminder",
            language="en-US",
            kind=RequestKind.OUTREACH,
            variables=_VARIABLES,
            strategy="standard",
            strategy_version="2026.11.1",
            arm="champion",
            approved_at=NOW,
            valid_until=NOW + timedelta(hours=6),
        ),
        "approval",
    )


def payment_in_full() -> Template:
    return Template(
        ev.PaymentPosted(
            debtor_id=f"d{_ID}",
            account_id=f"a{_ID}",
            payment_id=f"p{_ID}",
            currency="USD",
            amount=Decimal(2400),
            outstanding_after=Decimal(0),
            posted_at=NOW,
        ),
        "payment",
    )


class StateTemplate:
    """The changelog record the gatekeeper writes once it has read a debtor's profile, made by its own handler
    and stamped per debtor: seeds a large state without feeding a million profiles through the service."""

    def __init__(self, topic: str) -> None:
        source = profile()
        envelope = codec.decode(source.key, source.value, source.headers)
        handler = Gatekeeper(PolicyBook.load(GatekeeperSettings.model_fields["policies"].default))
        result = handler.apply(codec.key_of(envelope.event), None, envelope, NOW)
        if result.state is None or result.outputs:
            raise RuntimeError("the gatekeeper's answer to a profile is no longer a bare state")
        self.topic = topic
        self.key = source.key
        self.value = result.state.model_dump_json().encode()
        self.ce_id = envelope.id
        self.scheduled = str(result.scheduled).encode()

    def stamp(self, index: int) -> Record:
        number = f"{index:08d}".encode()
        digits = f"{2_000_000 + index:07d}".encode()
        ce_id = self.ce_id.replace(_ID, number.decode())
        # The processor remembers applied ce_ids by this digest: a redelivered profile is not applied twice.
        seen = hashlib.blake2b(ce_id.encode(), digest_size=8).digest()
        value = self.value.replace(_ID_BYTES, number).replace(_PHONE_BYTES, digits)
        headers = [("seen", seen), ("scheduled", self.scheduled)]
        return Record(self.topic, self.key.replace(_ID_BYTES, number), value, headers)

    def each(self, indexes: Iterable[int]) -> Iterator[Record]:
        return (self.stamp(i) for i in indexes)
