"""Session-wide fixtures: one real Kafka broker per test session, a fresh topic prefix per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.localkafka import LocalKafka
from services.core.catalog import apply
from services.core.settings import CommonSettings

# Tests use 4 partitions per topic (production uses the catalog's 12): enough to exercise partitioning
# and rebalancing, few enough that hundreds of per-test topics stay cheap on one small broker.
TEST_PARTITIONS = 4


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The folder is the tier: tests/unit -> unit, tests/integration -> integration, ...
    for item in items:
        tier = Path(str(item.fspath)).relative_to(Path(__file__).parent).parts[0]
        if tier in {"unit", "integration", "e2e", "fault"}:
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    broker = LocalKafka(tmp_path_factory.mktemp("kafka"), insecure=True)
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
async def settings(kafka: LocalKafka, tmp_path: Path) -> CommonSettings:
    """Settings pointing at the session broker, with this test's own topics (fresh prefix)."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    await apply(kafka.bootstrap, prefix=prefix, partitions=TEST_PARTITIONS)
    return CommonSettings(
        kafka_bootstrap=kafka.bootstrap,
        topic_prefix=prefix,
        session_timeout_ms=6_000,
        heartbeat_interval_ms=1_000,
        clock_ack_dir=tmp_path / "acks",
    )
