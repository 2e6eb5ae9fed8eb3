"""The gatekeeper service on the real broker, on the stepped shared clock: a harness that runs it in-process,
and builders for its inputs."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from devtools.stepper import Stepper
from schemas import events as ev
from schemas.topics import ACCOUNT, CONSENT, DECISIONS, DISPATCH, OUTCOMES, REQUESTS
from schemas.vocab import Channel
from services.core.clock import SharedClock, write_stepped
from services.core.settings import CommonSettings
from services.gatekeeper.app import GatekeeperApp
from tests.support import Tail, gatekeeper_settings, publish

NY_PHONE = "+12125550100"
START = datetime(2026, 6, 10, 2, 0, tzinfo=UTC)  # 22:00 in New York on Tuesday 9 June


class Harness:
    def __init__(self, settings: CommonSettings, clock_file: Path, stepper: Stepper, tail: Tail) -> None:
        self.settings = settings
        self.clock_file = clock_file
        self.stepper = stepper
        self.tail = tail
        self.app: GatekeeperApp | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.app = GatekeeperApp(self.settings, gatekeeper_settings(), SharedClock(self.clock_file))
        self._task = asyncio.create_task(self.app.run())

    async def stop(self) -> None:
        assert self.app is not None and self._task is not None
        self.app.stop()
        await asyncio.wait_for(self._task, 30)

    async def at(self, instant: datetime) -> None:
        await self.stepper.step_to(instant)
        await self.tail.settle()

    async def send(self, *events: object, ids: list[str] | None = None) -> None:
        await publish(self.settings, list(events), time=self.stepper.now or START, ids=ids)  # type: ignore[arg-type]
        await self.stepper.wait_idle()
        await self.tail.settle()

    def decisions(self, request_id: str) -> list[ev.ComplianceDecision]:
        return [d for d in self.tail.of(ev.ComplianceDecision) if d.request_id == request_id]

    def approvals(self, request_id: str) -> list[ev.ContactApproved]:
        return [a for a in self.tail.of(ev.ContactApproved) if a.request_id == request_id]


@pytest.fixture
async def gk(settings: CommonSettings, tmp_path: Path) -> AsyncIterator[Harness]:
    clock_file = tmp_path / "clock.json"
    write_stepped(clock_file, START)
    topics = [settings.topic(t) for t in (REQUESTS, ACCOUNT, CONSENT, OUTCOMES)]
    assert settings.clock_ack_dir is not None
    async with (
        Stepper(
            settings,
            clock_file,
            settings.clock_ack_dir,
            {settings.group("gatekeeper"): topics},
            ["gatekeeper"],
        ) as stepper,
        Tail(settings, DECISIONS, OUTCOMES, *DISPATCH.values()) as tail,
    ):
        stepper.now = START
        harness = Harness(settings, clock_file, stepper, tail)
        await harness.start()
        await stepper.wait_idle()
        try:
            yield harness
        finally:
            await harness.stop()


def profile(debtor: str, jurisdictions: list[str]) -> ev.DebtorProfileUpdated:
    return ev.DebtorProfileUpdated(
        debtor_id=debtor,
        contact_points=[
            ev.ContactPoint(
                type=ev.ContactPointType.PHONE, address=NY_PHONE, consents=[Channel.SMS, Channel.VOICE]
            ),
            ev.ContactPoint(
                type=ev.ContactPointType.EMAIL, address=f"{debtor}@example.com", consents=[Channel.EMAIL]
            ),
        ],
        timezone="America/New_York",
        jurisdictions=jurisdictions,
    )


def request(
    debtor: str, rid: str, channel: Channel = Channel.SMS, account: str = "a1", **extra: object
) -> ev.ContactRequested:
    return ev.ContactRequested(
        debtor_id=debtor,
        request_id=rid,
        account_id=account,
        channel=channel,
        destination=f"{debtor}@example.com" if channel is Channel.EMAIL else NY_PHONE,
        template="reminder_soft",
        strategy="default",
        strategy_version="1",
        arm="champion",
        requested_at=START,
        **extra,  # type: ignore[arg-type]
    )
