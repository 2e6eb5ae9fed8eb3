"""A service's first start on a fresh broker logs no ERROR: the broker answers GroupCoordinatorNotAvailable
until it has made its offsets topic, and the consumer's retried lookup is no error (one broker of its own,
since the session's has long had its offsets topic)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from devtools.localkafka import LocalKafka
from devtools.processes import Service
from services.core.catalog import apply


def test_the_first_start_on_a_fresh_broker_logs_no_error(tmp_path: Path) -> None:
    broker = LocalKafka(tmp_path / "kafka")
    broker.start()
    escalation = Service(
        "escalation",
        ["services.escalation", "run"],
        broker.env("escalation") | {"COLLECTIONS_TOPIC_PREFIX": ""},
        "METRICS_READY",
        tmp_path / "logs",
        inherit_settings=False,
    )
    try:
        asyncio.run(apply(broker.settings("admin"), partitions=4))
        escalation.start()
        # Joined its group and restored its partitions: the coordinator was found.
        deadline = time.monotonic() + 90
        while "escalation restored" not in escalation.log_path.read_text():
            escalation.check()
            assert time.monotonic() < deadline, escalation.tail()
            time.sleep(0.2)
    finally:
        escalation.stop()
        broker.stop()
    log = escalation.log_path.read_text()
    assert " ERROR " not in log, log
