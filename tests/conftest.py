"""Session-wide fixtures: one real Kafka broker per test session, a fresh topic prefix per test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from devtools.localkafka import LocalKafka
from services.core.catalog import apply
from services.core.settings import CommonSettings

# Tests use 4 partitions per topic (production uses the catalog's 12): enough to exercise partitioning
# and rebalancing, few enough that hundreds of per-test topics stay cheap on one small broker.
TEST_PARTITIONS = 4
Principal = Callable[[str], CommonSettings]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # The folder is the tier: tests/unit -> unit, tests/integration -> integration, ...
    for item in items:
        tier = Path(str(item.fspath)).relative_to(Path(__file__).parent).parts[0]
        if tier in {"unit", "integration", "e2e", "fault"}:
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    broker = LocalKafka(tmp_path_factory.mktemp("kafka"))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
async def settings(kafka: LocalKafka, tmp_path: Path) -> CommonSettings:
    """The test's own view of the session broker (the admin principal), with this test's own topics and
    their ACLs (a fresh prefix): what the test writes and reads to drive and check the services."""
    prefix = f"t{uuid.uuid4().hex[:10]}."
    admin = kafka.settings("admin")
    await apply(admin, prefix=prefix, partitions=TEST_PARTITIONS)
    return kafka.settings("admin", **session_overrides(prefix, tmp_path))


@pytest.fixture
def principal(kafka: LocalKafka, settings: CommonSettings, tmp_path: Path) -> Principal:
    """Settings for a service under test as its own principal: only what the catalog grants it."""

    def as_principal(name: str) -> CommonSettings:
        return kafka.settings(name, **session_overrides(settings.topic_prefix, tmp_path))

    return as_principal


def session_overrides(prefix: str, tmp_path: Path) -> dict[str, object]:
    return {
        "topic_prefix": prefix,
        "session_timeout_ms": 6_000,
        "heartbeat_interval_ms": 1_000,
        "clock_ack_dir": tmp_path / "acks",
    }
