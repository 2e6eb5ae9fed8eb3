"""The port contracts (tests/channel_contracts.py) against the real adapters: Twilio over HTTP on the
sandbox, SMTP on the local SMTP server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from pydantic import SecretStr

from services.channels.adapters.smtp_email import SmtpEmail
from services.channels.adapters.twilio_rest import TwilioRest
from services.channels.adapters.twilio_sms import TwilioSms
from services.channels.adapters.twilio_voice import TwilioVoice
from services.core.clock import ManualClock
from tests.channel_contracts import (
    Arrange,
    EmailHarness,
    EmailSenderContract,
    SmsHarness,
    SmsSenderContract,
    VoiceCallerContract,
    VoiceHarness,
    sms,
)
from tests.channels_support import ACCOUNT_SID, Providers, eventually


def rest(providers: Providers, token: str) -> TwilioRest:
    return TwilioRest(providers.base_url, ACCOUNT_SID, SecretStr(token), timeout=5)


def arrange(providers: Providers) -> Arrange:
    async def fail(to: str, kind: str, times: int | None) -> None:
        await providers.faults(**{to: {"behaviour": kind, "times": times} if times else kind})

    return fail


class TestTwilioSms(SmsSenderContract):
    @pytest.fixture
    async def harness(self, providers: Providers, clock: ManualClock) -> AsyncIterator[SmsHarness]:
        sender = TwilioSms(rest(providers, providers.tokens[0]))
        refusing = TwilioSms(rest(providers, "not-the-token"))
        yield SmsHarness(sender, arrange(providers), refusing, clock.now().date())
        await sender.aclose()
        await refusing.aclose()

    async def test_twilio_prices_a_message_once_it_is_final(
        self, harness: SmsHarness, providers: Providers
    ) -> None:
        receipt = await harness.sender.send(sms("+14152000020", "您" * 65 + "👍🏽" + "您" * 65))
        assert (receipt.segments, receipt.price) == (3, None)  # counted at creation, priced later

        async def delivered() -> bool:
            [message] = await providers.messages(to="+14152000020")
            return bool(message["status"] == "delivered")

        await eventually(delivered)
        [found] = await harness.sender.sent_to("+14152000020", harness.since)
        assert (found.segments, found.price, found.price_unit) == (3, 3 * Decimal("0.0079"), "USD")


class TestTwilioVoice(VoiceCallerContract):
    @pytest.fixture
    async def harness(self, providers: Providers, clock: ManualClock) -> AsyncIterator[VoiceHarness]:
        caller = TwilioVoice(rest(providers, providers.tokens[1]))  # the token being rotated in
        refusing = TwilioVoice(rest(providers, "not-the-token"))
        yield VoiceHarness(caller, arrange(providers), refusing, clock.now().date())
        await caller.aclose()
        await refusing.aclose()


class TestSmtpEmail(EmailSenderContract):
    @pytest.fixture
    async def harness(self, providers: Providers) -> AsyncIterator[EmailHarness]:
        sender = SmtpEmail(
            "127.0.0.1", providers.smtp_port, pool_size=2, timeout=5, ca_file=providers.smtp_ca_file
        )

        async def fail(address: str, code: int, times: int | None) -> None:
            fault = {"code": code, "times": times} if times else {"code": code}
            await providers.mail_faults({address: fault})

        async def received(address: str) -> list[str]:
            return [mail["subject"] for mail in await providers.mail(to=address)]

        yield EmailHarness(sender, fail, received)
        await sender.aclose()
