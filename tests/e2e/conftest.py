"""The escalation + gatekeeper pipeline on the real broker, driven by the stepped shared clock."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import BaseModel

from devtools.stepper import Stepper
from schemas import events as ev
from schemas.topics import DECISIONS, DISPATCH, ESCALATIONS, OUTCOMES, REQUESTS
from schemas.vocab import Channel
from services.core.clock import SharedClock, write_stepped
from services.core.settings import CommonSettings
from services.escalation.app import EscalationApp
from services.escalation.service import Escalation
from services.escalation.settings import EscalationSettings
from services.gatekeeper.app import GatekeeperApp
from services.gatekeeper.service import Gatekeeper
from tests.support import Tail, gatekeeper_settings, publish

DUE = date(2026, 6, 1)
NY_PHONE = "+12125550100"
START = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

GATEKEEPER_INPUTS = Gatekeeper.input_topics
ESCALATION_INPUTS = Escalation.input_topics


def night(dpd: int) -> datetime:
    """When core banking publishes day ``dpd``: 02:00 UTC, 22:00 the evening before in New York."""
    return datetime.combine(DUE + timedelta(days=dpd), datetime.min.time(), tzinfo=UTC) + timedelta(hours=2)


def profile(debtor: str, **extra: object) -> ev.DebtorProfileUpdated:
    fields: dict[str, object] = {
        "debtor_id": debtor,
        "name": "Alex Doe",
        "timezone": "America/New_York",
        "jurisdictions": ["US"],
        "contact_points": [
            ev.ContactPoint(
                type=ev.ContactPointType.PHONE, address=NY_PHONE, consents=[Channel.SMS, Channel.VOICE]
            ),
            ev.ContactPoint(
                type=ev.ContactPointType.EMAIL, address=f"{debtor}@example.com", consents=[Channel.EMAIL]
            ),
        ],
    }
    fields.update(extra)
    return ev.DebtorProfileUpdated.model_validate(fields)


def overdue(debtor: str, dpd: int, account: str = "a1", balance: str = "2400") -> ev.AccountOverdue:
    return ev.AccountOverdue(
        debtor_id=debtor,
        account_id=account,
        product="personal_loan",
        currency="USD",
        amount_due=Decimal(120),
        total_outstanding=Decimal(balance),
        days_past_due=dpd,
        due_date=DUE,
        as_of=night(dpd),
    )


class Pipeline:
    def __init__(
        self,
        settings: CommonSettings,
        tmp: Path,
        stepper: Stepper,
        tail: Tail,
        strategy: Path,
        principal: Callable[[str], CommonSettings],
    ) -> None:
        self.settings = settings
        self.principal = principal
        self.clock = SharedClock(tmp / "clock.json")
        self.stepper = stepper
        self.tail = tail
        self.strategy = strategy
        self.escalation: EscalationApp | None = None
        self.gatekeeper: GatekeeperApp | None = None
        self._tasks: dict[str, asyncio.Task[None]] = {}

    async def start(self, which: str = "both") -> None:
        if which in ("both", "gatekeeper"):
            self.gatekeeper = GatekeeperApp(self.principal("gatekeeper"), gatekeeper_settings(), self.clock)
            self._tasks["gatekeeper"] = asyncio.create_task(self.gatekeeper.run())
        if which in ("both", "escalation"):
            self.escalation = EscalationApp(
                self.principal("escalation"), EscalationSettings(strategy=self.strategy), self.clock
            )
            self._tasks["escalation"] = asyncio.create_task(self.escalation.run())
        await self.stepper.wait_idle()

    async def stop(self, which: str = "both") -> None:
        for name, app in (("gatekeeper", self.gatekeeper), ("escalation", self.escalation)):
            if which in ("both", name) and app is not None and name in self._tasks:
                app.stop()
                await asyncio.wait_for(self._tasks.pop(name), 30)

    @property
    def now(self) -> datetime:
        assert self.stepper.now is not None
        return self.stepper.now

    def check(self) -> None:
        """A service that died in the background fails the test with its own exception."""
        for task in self._tasks.values():
            if task.done():
                task.result()

    async def advance(self, to: datetime) -> None:
        """Move the clock to ``to``, stopping at every instant some service has work due."""
        self.check()
        while (due := self.stepper.next_due()) is not None and due <= to:
            if due <= self.now:
                raise AssertionError(f"work due at {due} is still pending at {self.now}")
            await self.stepper.step_to(due)
        if to > self.now:
            await self.stepper.step_to(to)
        await self.tail.settle()

    async def send(self, *events: BaseModel) -> None:
        self.check()
        await publish(self.settings, list(events), time=self.now)
        await self.stepper.wait_idle()
        await self.tail.settle()

    async def nights(self, debtors: list[str], first: int, last: int, **kwargs: object) -> None:
        """Core banking's end of day for each day past due in [first, last], with the days in between."""
        for dpd in range(first, last + 1):
            await self.advance(night(dpd))
            await self.send(*(overdue(d, dpd, **kwargs) for d in debtors))  # type: ignore[arg-type]

    def requests(self, debtor: str) -> list[ev.ContactRequested]:
        return [r for r in self.tail.of(ev.ContactRequested) if r.debtor_id == debtor]

    def approvals(self, debtor: str) -> list[ev.ContactApproved]:
        return [a for a in self.tail.of(ev.ContactApproved) if a.debtor_id == debtor]

    def decisions(self, debtor: str) -> list[ev.ComplianceDecision]:
        return [d for d in self.tail.of(ev.ComplianceDecision) if d.debtor_id == debtor]


@pytest.fixture
async def pipeline(
    settings: CommonSettings, principal: Callable[[str], CommonSettings], tmp_path: Path
) -> AsyncIterator[Pipeline]:
    from services.core.settings import DEPLOY_DIR

    write_stepped(tmp_path / "clock.json", START)
    assert settings.clock_ack_dir is not None
    groups = {
        settings.group("gatekeeper"): [settings.topic(t) for t in GATEKEEPER_INPUTS],
        settings.group("escalation"): [settings.topic(t) for t in ESCALATION_INPUTS],
    }
    async with (
        Stepper(
            settings,
            tmp_path / "clock.json",
            settings.clock_ack_dir,
            groups,
            ["gatekeeper", "escalation"],
        ) as stepper,
        Tail(settings, REQUESTS, DECISIONS, ESCALATIONS, OUTCOMES, *DISPATCH.values()) as tail,
    ):
        stepper.now = START
        strategy = DEPLOY_DIR / "strategies" / "standard.toml"
        pipe = Pipeline(settings, tmp_path, stepper, tail, strategy, principal)
        await pipe.start()
        try:
            yield pipe
        finally:
            await pipe.stop()
