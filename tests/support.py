"""Helpers for tests against the real broker: produce records, consume until a condition holds."""

from __future__ import annotations

import asyncio
import base64
import inspect
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from aiokafka.structs import ConsumerRecord
from pydantic import BaseModel, SecretStr

from schemas import events as ev
from schemas.topics import topic_for
from services.core import codec, signing
from services.core.runtime import clients
from services.core.runtime.clients import partitions
from services.core.settings import CommonSettings
from services.gatekeeper.settings import GatekeeperSettings

Record = ConsumerRecord[bytes, bytes]
E = TypeVar("E", bound=BaseModel)

# The approval signing key of this test session, as `collections gatekeeper keys generate` makes one: the
# gatekeepers the tests start sign with it, their workers accept it, and tests that write approvals by hand
# sign them with it as the gatekeeper would.
APPROVAL_SIGNING_KEY, APPROVAL_PUBLIC_KEY = signing.generate()
SIGNER = signing.ApprovalSigner(SecretStr(APPROVAL_SIGNING_KEY))
KEY_ENV = {"GATEKEEPER_SIGNING_KEY": APPROVAL_SIGNING_KEY, "CHANNELS_APPROVAL_KEYS": APPROVAL_PUBLIC_KEY}


def kafka_env(settings: CommonSettings) -> dict[str, str]:
    """The ``COLLECTIONS_*`` variables that make a service process reach the broker and the topics of
    ``settings``, as the same principal."""
    env = {
        "COLLECTIONS_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
        "COLLECTIONS_KAFKA_SECURITY_PROTOCOL": settings.kafka_security_protocol,
        "COLLECTIONS_TOPIC_PREFIX": settings.topic_prefix,
    }
    if settings.kafka_sasl_username:
        env["COLLECTIONS_KAFKA_SASL_USERNAME"] = settings.kafka_sasl_username
    if settings.kafka_sasl_password is not None:
        env["COLLECTIONS_KAFKA_SASL_PASSWORD"] = settings.kafka_sasl_password.get_secret_value()
    if settings.kafka_ca_file is not None:
        env["COLLECTIONS_KAFKA_CA_FILE"] = str(settings.kafka_ca_file)
    return env


def gatekeeper_settings(**overrides: Any) -> GatekeeperSettings:
    return GatekeeperSettings(signing_key=SecretStr(APPROVAL_SIGNING_KEY), **overrides)


def signed(
    settings: CommonSettings, topic: str, enc: codec.Encoded
) -> tuple[str, bytes, bytes, list[tuple[str, bytes]]]:
    """A record of ``enc`` for the logical ``topic``, signed as the gatekeeper signs an approval."""
    headers = [*enc.headers, *SIGNER.sign(settings.topic(topic), enc.key, enc.headers, enc.value)]
    return topic, enc.key, enc.value, headers


async def produce(
    settings: CommonSettings, records: list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]]
) -> None:
    """Produce raw (topic, key, value, headers) records, topic names without the prefix."""
    producer = clients.producer(settings, "tests")
    await producer.start()
    try:
        futures = [
            await producer.send(settings.topic(topic), value, key=key, headers=headers)
            for topic, key, value, headers in records
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def publish(
    settings: CommonSettings,
    events: list[BaseModel],
    *,
    time: datetime,
    ids: list[str] | None = None,
    sign: bool = True,
) -> None:
    """Encode and produce events to their home topics; approvals signed as the gatekeeper would (``sign``)."""
    records: list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]] = []
    for index, event in enumerate(events):
        enc = codec.encode(event, source="/tests", time=time, id=ids[index] if ids else None)
        if sign and SIGNER.applies_to(event):
            records.append(signed(settings, topic_for(event), enc))
        else:
            records.append((topic_for(event), enc.key, enc.value, enc.headers))
    await produce(settings, records)


async def consume(
    settings: CommonSettings,
    topic: str,
    until: Callable[[list[Record]], bool],
    timeout: float = 30.0,
) -> list[Record]:
    """Read ``topic`` from the beginning until ``until(records)`` holds; fail after ``timeout`` seconds."""
    consumer = clients.consumer(
        settings, None, "tests", fetch_max_bytes=16_777_216, max_partition_fetch_bytes=8_388_608
    )
    await consumer.start()
    try:
        name = settings.topic(topic)
        tps = await partitions(consumer, name)
        assert tps, f"topic {name} does not exist"
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list[Record] = []
        deadline = time.monotonic() + timeout
        while True:
            if until(records):
                return records
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"condition not met on {topic} within {timeout}s; {len(records)} records read"
                )
            batch = await consumer.getmany(timeout_ms=200)
            for part in batch.values():
                records.extend(part)
    finally:
        await consumer.stop()


def decoded(records: list[Record]) -> list[codec.Envelope[BaseModel]]:
    return [codec.decode(r.key, r.value, r.headers) for r in records]


class Tail:
    """Follows topics from the beginning and keeps every decoded event, for waiting on conditions."""

    def __init__(self, settings: CommonSettings, *topics: str) -> None:
        self.settings = settings
        self.topics = topics
        self.events: list[codec.Envelope[BaseModel]] = []
        self._consumer = clients.consumer(settings, None, "tests-tail")

    async def __aenter__(self) -> Tail:
        await self._consumer.start()
        tps = []
        for topic in self.topics:
            tps.extend(await partitions(self._consumer, self.settings.topic(topic)))
        self._consumer.assign(tps)
        await self._consumer.seek_to_beginning(*tps)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()

    def of(self, kind: type[E]) -> list[E]:
        return [e.event for e in self.events if isinstance(e.event, kind)]

    async def wait_for(self, condition: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s; {len(self.events)} events seen")
            await self.poll()

    async def poll(self, timeout_ms: int = 100) -> None:
        for records in (await self._consumer.getmany(timeout_ms=timeout_ms)).values():
            self.events.extend(codec.decode(r.key, r.value, r.headers) for r in records)

    async def settle(self) -> None:
        """Read everything written so far: up to the end offset of every partition, as of now."""
        tps = list(self._consumer.assignment())
        ends = await self._consumer.end_offsets(tps)
        behind = [tp for tp in tps if await self._consumer.position(tp) < ends[tp]]
        while behind:
            await self.poll()
            behind = [tp for tp in behind if await self._consumer.position(tp) < ends[tp]]


async def eventually(check: Callable[[], Any], timeout: float = 20.0, interval: float = 0.05) -> Any:
    """Poll ``check`` (sync or async) until it returns something truthy; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s, last value: {result!r}")
        await asyncio.sleep(interval)


def dead_letter(
    source_topic: str,
    key: bytes | None,
    value: bytes | None,
    headers: list[tuple[str, bytes]],
    *,
    reason: str = "processing_error",
    consumer: str = "tests",
    offset: int = 0,
    at: datetime | None = None,
) -> ev.DeadLetter:
    """A dead letter of the record (key, value, headers) said to come from ``source_topic`` (physical name):
    what a consumer writes, or what someone who may write the dead-letter topic could forge."""

    def b64(raw: bytes | None) -> str | None:
        return base64.b64encode(raw).decode() if raw is not None else None

    return ev.DeadLetter(
        source_topic=source_topic,
        source_partition=0,
        source_offset=offset,
        consumer=consumer,
        reason=reason,
        error="processing failed",
        key_b64=b64(key),
        value_b64=b64(value),
        headers=[(name, base64.b64encode(raw).decode()) for name, raw in headers],
        failed_at=at or datetime.fromisoformat("2026-06-10T15:30:00+00:00"),
    )
