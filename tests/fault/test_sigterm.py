"""SIGTERM drains and exits cleanly: each stateful service finishes its batch, leaves the group, exits 0."""

from __future__ import annotations

from pathlib import Path

import pytest

from devtools.processes import Service
from tests.conftest import Principal
from tests.support import KEY_ENV, kafka_env


@pytest.mark.parametrize("service", ["gatekeeper", "escalation"])
def test_sigterm_exits_cleanly(service: str, principal: Principal, tmp_path: Path) -> None:
    env = {
        **kafka_env(principal(service)),
        "COLLECTIONS_SESSION_TIMEOUT_MS": "6000",
        **KEY_ENV,
    }
    process = Service(service, [f"services.{service}", "run"], env, "METRICS_READY", tmp_path)
    process.start()
    assert process.process is not None
    process.stop(timeout=20)
    assert process.process.returncode == 0, process.tail()
    assert "Traceback" not in process.log_path.read_text()
