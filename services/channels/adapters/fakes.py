"""In-memory fakes of the three ports, for unit tests of the worker's logic. They keep what they were asked
to send and fail on request, with the sandbox's fault names (``rate_limited``, ``error_after_create`` ...),
so the same contract tests run against a fake and against the real adapter."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from schemas.vocab import FailureKind, OutcomeStatus
from services.channels.adapters.smtp_email import refusal
from services.channels.errors import (
    AuthenticationError,
    PermanentSendError,
    TransientSendError,
    UncertainSendError,
)
from services.channels.ports import (
    Call,
    CallReceipt,
    Email,
    EmailReceipt,
    PlacedCall,
    ProviderStatus,
    SentSms,
    Sms,
    SmsReceipt,
)
from services.messaging.sms import count_segments

_ids = itertools.count(1)


@dataclass(slots=True)
class _Armed:
    kind: str
    times: int | None


@dataclass
class _Faults:
    armed: dict[str, _Armed] = field(default_factory=dict)

    def arm(self, key: str, kind: str, times: int | None = None) -> None:
        self.armed[key] = _Armed(kind, times)

    def take(self, key: str) -> str | None:
        armed = self.armed.get(key)
        if armed is None or armed.times == 0:
            return None
        if armed.times is not None:
            armed.times -= 1
        return armed.kind


def _before_create(kind: str | None, *, sms: bool) -> None:
    """Raise what the provider answers for faults that leave nothing created."""
    if kind == "invalid_number":
        raise PermanentSendError(
            "The 'To' number is not a valid phone number.",
            code="21211",
            failure=FailureKind.INVALID_DESTINATION,
        )
    if kind == "opted_out" and sms:
        raise PermanentSendError(
            "Attempt to send to unsubscribed recipient", code="21610", failure=FailureKind.OPTED_OUT
        )
    if kind == "rate_limited":
        raise TransientSendError("Too Many Requests", code="20429", retry_after=None)
    if kind in ("error_before_create", "timeout_before_create"):
        raise UncertainSendError("An internal server error has occurred", code="20500")
    if kind == "auth":
        raise AuthenticationError("Authentication Error - invalid username", code="20003")


def _status(final: dict[str, ProviderStatus], ref: str, known: set[str]) -> ProviderStatus | None:
    """A send the fake has: final once a test said so, else still under way; None for any other."""
    if ref in final:
        return final[ref]
    return ProviderStatus("sent", None) if ref in known else None


class FakeSms:
    provider = "fake"

    def __init__(self, now: datetime | None = None) -> None:
        self.messages: list[SentSms] = []
        # What a status lookup answers once a test finished a send (its callback lost or not).
        self.final: dict[str, ProviderStatus] = {}
        self.faults = _Faults()
        self._now = now or datetime(2026, 1, 1, tzinfo=UTC)

    def fail(self, to: str, kind: str, times: int | None = None) -> None:
        self.faults.arm(to, kind, times)

    async def send(self, sms: Sms) -> SmsReceipt:
        kind = self.faults.take(sms.to)
        _before_create(kind, sms=True)
        sent = SentSms(
            provider_ref=f"SMfake{next(_ids):030d}",
            to=sms.to,
            from_=sms.from_,
            body=sms.body,
            status=OutcomeStatus.SENT,
            segments=count_segments(sms.body),
            created_at=self._now,
        )
        self.messages.append(sent)
        if kind in ("error_after_create", "timeout_after_create"):
            raise UncertainSendError("An internal server error has occurred", code="20500")
        return SmsReceipt(sent.provider_ref, sent.status, sent.segments)

    async def sent_to(self, to: str, since: date) -> list[SentSms]:
        return [m for m in reversed(self.messages) if m.to == to and m.created_at.date() >= since]

    async def status(self, provider_ref: str) -> ProviderStatus | None:
        return _status(self.final, provider_ref, {m.provider_ref for m in self.messages})

    async def aclose(self) -> None:
        return None


class FakeVoice:
    provider = "fake"

    def __init__(self, now: datetime | None = None) -> None:
        self.calls: list[tuple[Call, PlacedCall]] = []
        self.final: dict[str, ProviderStatus] = {}
        self.faults = _Faults()
        self._now = now or datetime(2026, 1, 1, tzinfo=UTC)

    def fail(self, to: str, kind: str, times: int | None = None) -> None:
        self.faults.arm(to, kind, times)

    async def call(self, call: Call) -> CallReceipt:
        kind = self.faults.take(call.to)
        _before_create(kind, sms=False)
        placed = PlacedCall(f"CAfake{next(_ids):030d}", call.to, call.from_, self._now)
        self.calls.append((call, placed))
        if kind in ("error_after_create", "timeout_after_create"):
            raise UncertainSendError("An internal server error has occurred", code="20500")
        return CallReceipt(placed.provider_ref, OutcomeStatus.SENT)

    async def placed_to(self, to: str, since: date) -> list[PlacedCall]:
        return [p for _, p in reversed(self.calls) if p.to == to and p.created_at.date() >= since]

    async def status(self, provider_ref: str) -> ProviderStatus | None:
        return _status(self.final, provider_ref, {p.provider_ref for _, p in self.calls})

    async def aclose(self) -> None:
        return None


class FakeEmail:
    """Recipient faults are SMTP reply codes (``451``, ``550``), like the SMTP sandbox's."""

    provider = "fake"

    def __init__(self) -> None:
        self.outbox: list[Email] = []
        self.faults = _Faults()

    def fail(self, address: str, code: int, times: int | None = None) -> None:
        self.faults.arm(address.lower(), str(code), times)

    async def send(self, email: Email) -> EmailReceipt:
        refused = {}
        for address in (email.to, *email.bcc):
            code = self.faults.take(address.lower())
            if code is not None:
                refused[address] = code
        if email.to in refused:
            raise refusal(refused[email.to], "relay refused the recipient")
        self.outbox.append(email)
        return EmailReceipt(provider_ref=email.message_id, refused=refused)

    async def aclose(self) -> None:
        return None
