"""The stepped clock's idle check: a probe that reports pending work (the provider sandbox with a callback it
could not deliver yet) keeps the pipeline busy however idle the rest is, so the clock does not move on; and
probes are asked at every reading, even while the rest is busy, so that the driver acts on what they see
(calls waiting at their menu) as soon as it can."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devtools.stepper import Stepper
from services.core.settings import CommonSettings


class Sandbox:
    """A stand-in for the sandbox's ``/_sandbox/idle``: callbacks still to deliver."""

    def __init__(self, pending: int) -> None:
        self.pending = pending
        self.asked = 0

    async def idle(self) -> bool:
        self.asked += 1
        return self.pending == 0


def stepper(tmp_path: Path, probe: Sandbox, lag: dict[str, int], monkeypatch: pytest.MonkeyPatch) -> Stepper:
    # Never started: nothing here reaches a broker; lag is what the test says it is.
    settings = CommonSettings(kafka_bootstrap="127.0.0.1:9", kafka_security_protocol="PLAINTEXT")  # type: ignore[call-arg]
    driver = Stepper(settings, tmp_path / "clock.json", tmp_path, {}, [], [probe.idle])

    async def lagging() -> dict[str, Any]:
        return lag

    monkeypatch.setattr(driver, "lagging", lagging)
    return driver


async def test_undelivered_callbacks_are_pending_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = Sandbox(pending=2)
    driver = stepper(tmp_path, sandbox, {}, monkeypatch)
    assert not await driver.idle()
    assert "probes not idle=['idle']" in await driver.describe()
    with pytest.raises(TimeoutError, match="probes not idle"):
        await driver.wait_idle(timeout=0.2)
    sandbox.pending = 0  # delivered: the webhooks are back
    await driver.wait_idle(timeout=5)
    assert await driver.idle()


async def test_probes_are_asked_while_the_rest_is_busy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = Sandbox(pending=0)
    driver = stepper(tmp_path, sandbox, {"gatekeeper": 3}, monkeypatch)
    assert not await driver.idle()
    assert sandbox.asked == 1
