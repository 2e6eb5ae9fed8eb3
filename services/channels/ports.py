"""The ports the worker sends through: one Protocol per channel, with what goes in and what comes back.

Each port has a module per provider under ``adapters/`` and an in-memory fake (``adapters/fakes.py``).
Every method raises the errors of ``errors.py`` and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

from schemas.vocab import OutcomeStatus


@dataclass(frozen=True, slots=True)
class Sms:
    to: str
    from_: str
    body: str
    status_callback: str


@dataclass(frozen=True, slots=True)
class SmsReceipt:
    """The provider accepted the message: its reference, status and the segments it will bill; ``price``
    (in ``price_unit``) when it already knows the charge (Twilio knows it once the message is final)."""

    provider_ref: str
    status: OutcomeStatus
    segments: int
    price: Decimal | None = None
    price_unit: str = ""


@dataclass(frozen=True, slots=True)
class SentSms:
    """A message the provider has on record (a lookup's answer, to reconcile an uncertain send)."""

    provider_ref: str
    to: str
    from_: str
    body: str
    status: OutcomeStatus
    segments: int
    created_at: datetime
    price: Decimal | None = None  # as on ``SmsReceipt``
    price_unit: str = ""


@dataclass(frozen=True, slots=True)
class ProviderStatus:
    """What the provider says of one send it has on record, asked by its reference: ``status`` once it is
    final (the outcome its callback would have carried), None while it is still under way."""

    provider_status: str
    status: OutcomeStatus | None
    error_code: str | None = None
    price: Decimal | None = None  # as on ``SmsReceipt``
    price_unit: str = ""
    duration_seconds: int = 0


class SmsSender(Protocol):
    provider: str

    async def send(self, sms: Sms) -> SmsReceipt:
        """Create one message. Never retried inside: a retry is the worker's decision."""
        ...

    async def sent_to(self, to: str, since: date) -> list[SentSms]:
        """Messages to ``to`` created on or after the day ``since`` (UTC), newest first."""
        ...

    async def status(self, provider_ref: str) -> ProviderStatus | None:
        """The message's status now; None if the provider has no such message."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Call:
    to: str
    from_: str
    answer_url: str
    status_callback: str
    machine_detection: bool = True


@dataclass(frozen=True, slots=True)
class CallReceipt:
    provider_ref: str
    status: OutcomeStatus


@dataclass(frozen=True, slots=True)
class PlacedCall:
    provider_ref: str
    to: str
    from_: str
    created_at: datetime


class VoiceCaller(Protocol):
    provider: str

    async def call(self, call: Call) -> CallReceipt:
        """Place one call; the answer URL serves its TwiML. Never retried inside."""
        ...

    async def placed_to(self, to: str, since: date) -> list[PlacedCall]:
        """Calls to ``to`` created on or after the day ``since`` (UTC), newest first."""
        ...

    async def status(self, provider_ref: str) -> ProviderStatus | None:
        """The call's status now; None if the provider has no such call."""
        ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Email:
    to: str
    from_: str
    subject: str
    text: str
    html: str
    message_id: str
    headers: tuple[tuple[str, str], ...] = ()
    bcc: tuple[str, ...] = ()  # e.g. the bank's compliance archive
    # The envelope sender (MAIL FROM), where bounces go; the From address when empty.
    return_path: str = ""


@dataclass(frozen=True, slots=True)
class EmailReceipt:
    """The relay accepted the message for ``to``; ``refused`` lists other recipients it turned down."""

    provider_ref: str
    refused: dict[str, str] = field(default_factory=dict)


class EmailSender(Protocol):
    provider: str

    async def send(self, email: Email) -> EmailReceipt:
        """Hand one message to the relay; raises if the relay refused ``to``."""
        ...

    async def aclose(self) -> None: ...
