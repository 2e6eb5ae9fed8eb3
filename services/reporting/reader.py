"""Reads the event log for reports and audits: every debtor topic from the beginning to the end offsets of the
moment it starts, without a consumer group (it commits nothing and disturbs no service)."""

from __future__ import annotations

import logging
import time
from collections import Counter

from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import BaseModel

from schemas.topics import ACCOUNT, CONSENT, DECISIONS, DISPATCH, ESCALATIONS, OUTCOMES, REQUESTS
from services.core import codec
from services.core.kafka import partitions
from services.core.settings import CommonSettings

log = logging.getLogger(__name__)

LOG_TOPICS: tuple[str, ...] = (
    ACCOUNT,
    REQUESTS,
    *DISPATCH.values(),
    DECISIONS,
    OUTCOMES,
    CONSENT,
    ESCALATIONS,
)


class LogReadError(Exception):
    """The log cannot be read as asked: a topic is missing, or the broker stopped answering."""


async def read_log(
    settings: CommonSettings, topics: tuple[str, ...] = LOG_TOPICS, timeout: float = 300.0
) -> list[codec.Envelope[BaseModel]]:
    """Every decodable record of ``topics`` (logical names; the prefix is added) up to the end offsets taken
    at the start. Records that do not decode are skipped and counted in a warning: they are dead letters."""
    client = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=None,
        enable_auto_commit=False,
        client_id="collections-reporting",
        fetch_max_bytes=33_554_432,
        max_partition_fetch_bytes=8_388_608,
    )
    try:
        await client.start()
        assigned: list[TopicPartition] = []
        for topic in topics:
            found = await partitions(client, settings.topic(topic))
            if not found:
                raise LogReadError(
                    f"topic {settings.topic(topic)} does not exist on {settings.kafka_bootstrap}"
                )
            assigned.extend(found)
        client.assign(assigned)
        await client.seek_to_beginning(*assigned)
        ends = await client.end_offsets(assigned)
        return await _drain(client, ends, timeout)
    finally:
        await client.stop()


async def _drain(
    client: AIOKafkaConsumer, ends: dict[TopicPartition, int], timeout: float
) -> list[codec.Envelope[BaseModel]]:
    envelopes: list[codec.Envelope[BaseModel]] = []
    skipped: Counter[str] = Counter()
    pending = {tp for tp, end in ends.items() if end > 0}
    deadline = time.monotonic() + timeout
    while pending:
        if time.monotonic() > deadline:
            raise LogReadError(
                f"log not read to its end within {timeout:.0f}s ({len(pending)} partitions behind)"
            )
        batch = await client.getmany(*pending, timeout_ms=500, max_records=10_000)
        for tp, records in batch.items():
            for record in records:
                if record.offset >= ends[tp]:
                    break
                try:
                    envelopes.append(codec.decode(record.key, record.value, record.headers))
                except codec.DecodeError as exc:
                    skipped[exc.reason] += 1
        for tp in list(pending):
            if await client.position(tp) >= ends[tp]:
                pending.discard(tp)
    if skipped:
        log.warning("skipped %d undecodable records: %s", sum(skipped.values()), dict(skipped))
    return envelopes
