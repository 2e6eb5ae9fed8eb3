"""The runtime's contract against the real broker (the same tests as on the in-memory broker)."""

from __future__ import annotations

from services.core.settings import CommonSettings
from tests.runtime_contract import RuntimeContract
from tests.support import produce


class TestOnKafka(RuntimeContract):
    def connector(self, settings: CommonSettings) -> None:
        return None

    async def write(self, settings: CommonSettings, records: list) -> None:  # type: ignore[type-arg]
        await produce(settings, records)
