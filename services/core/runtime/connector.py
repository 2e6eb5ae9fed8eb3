"""Where a runtime's clients come from: the broker (``KafkaConnector``) or ``memory.MemoryBroker``."""

from __future__ import annotations

from typing import Protocol

from services.core.runtime import clients
from services.core.runtime.transport import Consumer, Producer
from services.core.settings import CommonSettings


class Connector(Protocol):
    def producer(self, client_id: str) -> Producer: ...

    def consumer(self, group: str | None, client_id: str, **extra: object) -> Consumer: ...


class KafkaConnector:
    def __init__(self, settings: CommonSettings) -> None:
        self.settings = settings

    def producer(self, client_id: str) -> Producer:
        return clients.producer(self.settings, client_id)  # type: ignore[no-any-return]

    def consumer(self, group: str | None, client_id: str, **extra: object) -> Consumer:
        return clients.consumer(self.settings, group, client_id, **extra)  # type: ignore[no-any-return]
