"""The port contracts (tests/channel_contracts.py) against the in-memory fakes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.channels.adapters.fakes import FakeEmail, FakeSms, FakeVoice
from tests.channel_contracts import (
    TODAY,
    EmailHarness,
    EmailSenderContract,
    SmsHarness,
    SmsSenderContract,
    VoiceCallerContract,
    VoiceHarness,
)

NOW = datetime(2026, 6, 10, 15, 0, tzinfo=UTC)


class TestFakeSms(SmsSenderContract):
    @pytest.fixture
    async def harness(self) -> SmsHarness:
        sender, refusing = FakeSms(NOW), FakeSms(NOW)

        async def fail(to: str, kind: str, times: int | None) -> None:
            sender.fail(to, kind, times)

        refusing.fail("+14152000009", "auth")
        return SmsHarness(sender, fail, refusing, TODAY)


class TestFakeVoice(VoiceCallerContract):
    @pytest.fixture
    async def harness(self) -> VoiceHarness:
        caller, refusing = FakeVoice(NOW), FakeVoice(NOW)

        async def fail(to: str, kind: str, times: int | None) -> None:
            caller.fail(to, kind, times)

        refusing.fail("+14152000015", "auth")
        return VoiceHarness(caller, fail, refusing, TODAY)


class TestFakeEmail(EmailSenderContract):
    @pytest.fixture
    async def harness(self) -> EmailHarness:
        sender = FakeEmail()

        async def fail(address: str, code: int, times: int | None) -> None:
            sender.fail(address, code, times)

        async def received(address: str) -> list[str]:
            return [mail.subject for mail in sender.outbox if mail.to == address]

        return EmailHarness(sender, fail, received)
