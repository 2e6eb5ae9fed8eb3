"""The broker stops mid-flow and comes back: the services reconnect by themselves and lose nothing."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from pathlib import Path

from devtools.localkafka import LocalKafka
from devtools.stepper import Stepper
from schemas.topics import DECISIONS, DISPATCH, ESCALATIONS, OUTCOMES, REQUESTS
from services.core.catalog import apply
from services.core.clock import write_stepped
from services.core.settings import DEPLOY_DIR
from tests.e2e.conftest import ESCALATION_INPUTS, GATEKEEPER_INPUTS, START, Pipeline, night, profile
from tests.e2e.test_escalation_flow import champions, step_names
from tests.support import Tail


async def test_broker_stop_and_restart_mid_flow(tmp_path: Path) -> None:
    broker = LocalKafka(tmp_path / "kafka")
    await asyncio.to_thread(broker.start)  # LocalKafka waits with its own event loop
    try:
        await apply(broker.settings("admin"), partitions=4)
        session: dict[str, object] = {
            "session_timeout_ms": 6000,
            "heartbeat_interval_ms": 1000,
            "clock_ack_dir": tmp_path / "acks",
        }
        settings = broker.settings("admin", **session)
        write_stepped(tmp_path / "clock.json", START)
        groups = {"gatekeeper": list(GATEKEEPER_INPUTS), "escalation": list(ESCALATION_INPUTS)}
        debtors = champions("brk", 12)
        async with (
            Stepper(
                settings,
                tmp_path / "clock.json",
                tmp_path / "acks",
                groups,
                ["gatekeeper", "escalation"],
            ) as stepper,
            Tail(settings, REQUESTS, DECISIONS, ESCALATIONS, OUTCOMES, *DISPATCH.values()) as tail,
        ):
            stepper.now = START
            strategy = DEPLOY_DIR / "strategies" / "standard.toml"
            pipe = Pipeline(
                settings, tmp_path, stepper, tail, strategy, lambda name: broker.settings(name, **session)
            )
            await pipe.start()
            try:
                await pipe.send(*(profile(d) for d in debtors))
                await pipe.nights(debtors, 1, 3)
                await asyncio.to_thread(broker.stop)
                # While the broker is down the clock moves on: the day-3 email falls due and cannot be sent.
                write_stepped(tmp_path / "clock.json", night(3) + timedelta(hours=12))
                await asyncio.sleep(3)
                await asyncio.to_thread(broker.start)
                back = time.monotonic()
                stepper.now = night(3) + timedelta(hours=12)
                await stepper.wait_idle(90, alive=pipe.check)
                assert time.monotonic() - back < 60, "services took more than 60 s to catch up"
                await pipe.nights(debtors, 4, 12)
                await pipe.advance(night(12) + timedelta(hours=20))
            finally:
                await pipe.stop()
            for debtor in debtors:
                requests = pipe.requests(debtor)
                assert step_names(requests) == ["sms-reminder", "email-plan", "first-call", "sms-followup"], (
                    debtor
                )
                decided = {d.request_id for d in pipe.decisions(debtor)}
                assert {r.request_id for r in requests} <= decided
    finally:
        await asyncio.to_thread(broker.stop)
