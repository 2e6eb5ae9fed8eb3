"""The benchmark's machinery at a tiny size on the session broker, so that it does not rot: every figure of
the stages run is in the JSON and positive. No timing thresholds: a tiny run on a busy machine means nothing.

The SMS and pipeline stages (sandbox, webhooks and worker processes) are left to ``make bench QUICK=1``: with
them the test would take minutes on two cores.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from devtools.bench import TINY, Bench, Broker
from devtools.bench_report import FIGURES, lookup
from devtools.localkafka import LocalKafka

STAGES = ["baseline", "signing", "escalation", "gatekeeper", "end-of-day", "latency", "scale"]

pytestmark = pytest.mark.timeout(240)


async def test_a_tiny_run_reports_every_figure_of_its_stages(kafka: LocalKafka, tmp_path: Path) -> None:
    assert kafka.process is not None
    broker = Broker(kafka, kafka.process.pid, kafka.workdir / "data")
    report = await Bench(broker, tmp_path, TINY).run(STAGES)
    report.finish("tiny", 1.0)
    data = orjson.loads(orjson.dumps(report.as_json()))

    for stage in STAGES:
        for path in FIGURES[stage]:
            value = lookup(data, path)
            assert isinstance(value, int | float) and value > 0, f"{path} = {value!r}"
    assert data["machine"]["cores"] >= 1
    assert data["machine"]["kafka"] != "unknown"
    assert data["latency"]["approved"] == data["latency"]["requests"]
    assert data["latency"]["stopped"] == data["latency"]["payments"]
    assert data["stages"]["gatekeeper"]["allowed"] == TINY.gatekeeper
    # Every performance target is measured by one of these stages.
    assert all(row["met"] is not None for row in data["targets"]), data["targets"]
    assert "gatekeeper" in report.table()
