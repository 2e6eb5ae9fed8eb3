"""Arms at scale and restarts: 10,000 debtors split by arm; a SIGKILL mid-ladder."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta

from schemas import events as ev
from services.core.settings import REPO_ROOT
from tests.e2e.conftest import Pipeline, night, overdue, profile
from tests.e2e.test_escalation_flow import champions, step_names
from tests.support import kafka_env


async def test_ten_thousand_debtors_split_by_arm_and_keep_their_arm_across_a_restart(
    pipeline: Pipeline,
) -> None:
    debtors = [f"arm{i:05d}" for i in range(10_000)]
    await pipeline.send(*(profile(d) for d in debtors))
    await pipeline.advance(night(1))
    await pipeline.send(*(overdue(d, 1) for d in debtors))
    await pipeline.advance(night(1) + timedelta(hours=12))  # 09:00 New York: the day-1 SMS
    first = {r.debtor_id: r.arm for r in pipeline.tail.of(ev.ContactRequested)}
    assert len(first) == len(debtors)
    shares = Counter(first.values())
    assert abs(shares["early-voice"] / len(debtors) * 100 - 20) <= 2
    assert abs(shares["champion"] / len(debtors) * 100 - 80) <= 2

    await pipeline.stop("escalation")
    await pipeline.start("escalation")
    await pipeline.advance(night(3) + timedelta(hours=12))  # the email two days later, after the restart
    second = {
        r.debtor_id: r.arm for r in pipeline.tail.of(ev.ContactRequested) if r.step.endswith("email-plan")
    }
    assert len(second) == len(debtors)
    assert second == first


async def test_sigkill_mid_ladder_neither_repeats_nor_skips_a_step(pipeline: Pipeline) -> None:
    debtors = champions("kill", 4)
    await pipeline.stop("escalation")
    settings = pipeline.settings
    env = os.environ | {
        **kafka_env(pipeline.principal("escalation")),
        "COLLECTIONS_CLOCK": f"file:{pipeline.clock.path}",
        "COLLECTIONS_CLOCK_ACK_DIR": str(settings.clock_ack_dir),
        "COLLECTIONS_SESSION_TIMEOUT_MS": "6000",
        "COLLECTIONS_HEARTBEAT_INTERVAL_MS": "1000",
        "ESCALATION_STRATEGY": str(pipeline.strategy),
    }

    def spawn() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, "-m", "services.escalation", "run"],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    process = spawn()
    try:
        await pipeline.send(*(profile(d) for d in debtors))
        await pipeline.nights(debtors, 1, 7)
        await pipeline.advance(night(7) + timedelta(hours=11, minutes=30))
        # Publish day 8 and kill the worker while it is consuming it, before it can commit.
        await pipeline.advance(night(8))
        from tests.support import publish

        await publish(settings, [overdue(d, 8) for d in debtors], time=pipeline.now)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
        process = spawn()
        await pipeline.stepper.wait_idle(90)
        await pipeline.nights(debtors, 9, 30)
        await pipeline.advance(night(30) + timedelta(hours=20))
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    for debtor in debtors:
        requests = pipeline.requests(debtor)
        assert step_names(requests) == [
            "sms-reminder",
            "email-plan",
            "first-call",
            "sms-followup",
            "second-call",
            "email-notice",
        ], debtor
        assert len({r.request_id for r in requests}) == len(requests)
