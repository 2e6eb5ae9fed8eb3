"""One contract per port: what every SmsSender, VoiceCaller and EmailSender must do,
written once and run against the in-memory fake (tests/unit) and the real adapter on the sandbox or the
local SMTP server (tests/integration). A subclass only provides the ``harness`` fixture."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date

import pytest

from schemas.vocab import OutcomeStatus
from services.channels.errors import (
    AuthenticationError,
    PermanentSendError,
    TransientSendError,
    UncertainSendError,
)
from services.channels.ports import Call, Email, EmailSender, Sms, SmsSender, VoiceCaller

FROM = "+15550009000"
CALLBACK = "http://127.0.0.1:9/twilio/messages/status?request_id=r-1"
ANSWER = "http://127.0.0.1:9/twilio/calls/answer?request_id=r-1"
TODAY = date(2026, 6, 10)

# Arranges a fault for one destination: (number or address, fault, times), the sandbox's fault names.
Arrange = Callable[[str, str, int | None], Awaitable[None]]


@dataclass
class SmsHarness:
    sender: SmsSender
    fail: Arrange
    refused_credentials: SmsSender
    since: date


@dataclass
class VoiceHarness:
    caller: VoiceCaller
    fail: Arrange
    refused_credentials: VoiceCaller
    since: date


@dataclass
class EmailHarness:
    sender: EmailSender
    fail: Callable[[str, int, int | None], Awaitable[None]]
    received: Callable[[str], Awaitable[list[str]]]  # subjects received by an address


def sms(to: str, body: str = "Example Bank: please call us. Reply STOP to opt out.") -> Sms:
    return Sms(to=to, from_=FROM, body=body, status_callback=CALLBACK)


class SmsSenderContract:
    @pytest.fixture
    async def harness(self) -> SmsHarness:
        raise NotImplementedError

    async def test_a_sent_message_has_a_reference_and_its_segments(self, harness: SmsHarness) -> None:
        receipt = await harness.sender.send(sms("+14152000001", "您" * 71))
        assert receipt.provider_ref
        assert receipt.status is OutcomeStatus.SENT
        assert receipt.segments == 2

    async def test_a_sent_message_is_found_by_its_destination(self, harness: SmsHarness) -> None:
        receipt = await harness.sender.send(sms("+14152000002", "first"))
        await harness.sender.send(sms("+14152000003", "to someone else"))
        found = await harness.sender.sent_to("+14152000002", harness.since)
        assert [(m.provider_ref, m.body, m.from_) for m in found] == [(receipt.provider_ref, "first", FROM)]

    async def test_a_message_s_status_is_asked_by_its_reference_and_an_unknown_one_has_none(
        self, harness: SmsHarness
    ) -> None:
        receipt = await harness.sender.send(sms("+14152000004", "status"))
        found = await harness.sender.status(receipt.provider_ref)
        assert found is not None and found.provider_status  # under way, or already final
        assert found.status in (None, OutcomeStatus.DELIVERED)
        assert await harness.sender.status("SM" + "0" * 32) is None

    async def test_an_invalid_number_is_a_permanent_21211(self, harness: SmsHarness) -> None:
        await harness.fail("+14152000004", "invalid_number", None)
        with pytest.raises(PermanentSendError) as refused:
            await harness.sender.send(sms("+14152000004"))
        assert refused.value.code == "21211"

    async def test_an_opted_out_number_is_a_permanent_21610(self, harness: SmsHarness) -> None:
        await harness.fail("+14152000005", "opted_out", None)
        with pytest.raises(PermanentSendError) as refused:
            await harness.sender.send(sms("+14152000005"))
        assert refused.value.code == "21610"

    async def test_a_rate_limit_is_transient_and_creates_nothing(self, harness: SmsHarness) -> None:
        await harness.fail("+14152000006", "rate_limited", 1)
        with pytest.raises(TransientSendError) as refused:
            await harness.sender.send(sms("+14152000006"))
        assert refused.value.code == "20429"
        assert await harness.sender.sent_to("+14152000006", harness.since) == []
        assert (await harness.sender.send(sms("+14152000006"))).provider_ref

    async def test_an_error_after_creating_is_uncertain_and_the_lookup_finds_it(
        self, harness: SmsHarness
    ) -> None:
        await harness.fail("+14152000007", "error_after_create", 1)
        with pytest.raises(UncertainSendError):
            await harness.sender.send(sms("+14152000007", "uncertain"))
        [found] = await harness.sender.sent_to("+14152000007", harness.since)
        assert found.body == "uncertain"

    async def test_an_error_before_creating_is_uncertain_and_the_lookup_finds_nothing(
        self, harness: SmsHarness
    ) -> None:
        await harness.fail("+14152000008", "error_before_create", 1)
        with pytest.raises(UncertainSendError):
            await harness.sender.send(sms("+14152000008"))
        assert await harness.sender.sent_to("+14152000008", harness.since) == []

    async def test_refused_credentials_are_an_authentication_error(self, harness: SmsHarness) -> None:
        with pytest.raises(AuthenticationError):
            await harness.refused_credentials.send(sms("+14152000009"))


def call(to: str) -> Call:
    return Call(to=to, from_=FROM, answer_url=ANSWER, status_callback=CALLBACK)


class VoiceCallerContract:
    @pytest.fixture
    async def harness(self) -> VoiceHarness:
        raise NotImplementedError

    async def test_a_placed_call_has_a_reference_and_is_found(self, harness: VoiceHarness) -> None:
        receipt = await harness.caller.call(call("+14152000011"))
        assert receipt.provider_ref and receipt.status is OutcomeStatus.SENT
        found = await harness.caller.placed_to("+14152000011", harness.since)
        assert [(c.provider_ref, c.from_) for c in found] == [(receipt.provider_ref, FROM)]

    async def test_a_call_s_status_is_asked_by_its_reference_and_an_unknown_one_has_none(
        self, harness: VoiceHarness
    ) -> None:
        receipt = await harness.caller.call(call("+14152000012"))
        found = await harness.caller.status(receipt.provider_ref)
        assert found is not None and found.provider_status
        assert await harness.caller.status("CA" + "0" * 32) is None

    async def test_an_invalid_number_is_a_permanent_21211(self, harness: VoiceHarness) -> None:
        await harness.fail("+14152000012", "invalid_number", None)
        with pytest.raises(PermanentSendError) as refused:
            await harness.caller.call(call("+14152000012"))
        assert refused.value.code == "21211"

    async def test_a_rate_limit_is_transient(self, harness: VoiceHarness) -> None:
        await harness.fail("+14152000013", "rate_limited", 1)
        with pytest.raises(TransientSendError):
            await harness.caller.call(call("+14152000013"))
        assert await harness.caller.placed_to("+14152000013", harness.since) == []

    async def test_an_error_after_creating_is_uncertain_and_the_lookup_finds_it(
        self, harness: VoiceHarness
    ) -> None:
        await harness.fail("+14152000014", "error_after_create", 1)
        with pytest.raises(UncertainSendError):
            await harness.caller.call(call("+14152000014"))
        assert len(await harness.caller.placed_to("+14152000014", harness.since)) == 1

    async def test_refused_credentials_are_an_authentication_error(self, harness: VoiceHarness) -> None:
        with pytest.raises(AuthenticationError):
            await harness.refused_credentials.call(call("+14152000015"))


def email(to: str, subject: str = "Payment reminder", bcc: tuple[str, ...] = ()) -> Email:
    return Email(
        to=to,
        from_="Example Bank <collections@bank.example>",
        subject=subject,
        text="Dear Alex,\n",
        html="<p>Dear Alex,</p>\n",
        message_id="<5b0c8f0e-0000-5000-8000-000000000001@bank.example>",
        headers=(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),),
        bcc=bcc,
    )


class EmailSenderContract:
    @pytest.fixture
    async def harness(self) -> EmailHarness:
        raise NotImplementedError

    async def test_a_message_is_handed_over_with_its_message_id(self, harness: EmailHarness) -> None:
        receipt = await harness.sender.send(email("alex@example.com", "您的还款提醒"))
        assert receipt.provider_ref == "<5b0c8f0e-0000-5000-8000-000000000001@bank.example>"
        assert receipt.refused == {}
        assert await harness.received("alex@example.com") == ["您的还款提醒"]

    async def test_a_4xx_is_transient_and_the_retry_goes_through(self, harness: EmailHarness) -> None:
        await harness.fail("later@example.com", 451, 1)
        with pytest.raises(TransientSendError) as refused:
            await harness.sender.send(email("later@example.com"))
        assert refused.value.code == "451"
        await harness.sender.send(email("later@example.com"))
        assert await harness.received("later@example.com") == ["Payment reminder"]

    async def test_a_5xx_is_permanent(self, harness: EmailHarness) -> None:
        await harness.fail("gone@example.com", 550, None)
        with pytest.raises(PermanentSendError) as refused:
            await harness.sender.send(email("gone@example.com"))
        assert refused.value.code == "550"
        assert await harness.received("gone@example.com") == []

    async def test_a_partial_refusal_is_reported_not_raised(self, harness: EmailHarness) -> None:
        await harness.fail("archive@bank.example", 550, None)
        receipt = await harness.sender.send(email("kim@example.com", bcc=("archive@bank.example",)))
        assert receipt.refused == {"archive@bank.example": "550"}
        assert await harness.received("kim@example.com") == ["Payment reminder"]
