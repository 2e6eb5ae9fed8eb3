"""Reads the event log for reports and audits: every debtor topic from the beginning to the end offsets of the
moment it starts, with the runtime's group-less reader (it commits nothing and disturbs no service)."""

from __future__ import annotations

import logging
from collections import Counter

from aiokafka import TopicPartition
from pydantic import BaseModel

from schemas.topics import ACCOUNT, CONSENT, DECISIONS, DISPATCH, ESCALATIONS, OUTCOMES, REQUESTS
from services.core import codec
from services.core.runtime.reader import ReadTimeout, TopicReader
from services.core.settings import CommonSettings
from services.reporting.provenance import LogRecord

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
    return [record.envelope for record in await read_records(settings, topics, timeout)]


async def read_records(
    settings: CommonSettings, topics: tuple[str, ...] = LOG_TOPICS, timeout: float = 300.0
) -> list[LogRecord]:
    """As ``read_log``, with each record's topic and bytes, for the audit's provenance checks."""
    logical = {settings.topic(topic): topic for topic in topics}
    async with TopicReader.connect(settings, "collections-reporting", large=True) as reader:
        assigned: list[TopicPartition] = []
        for topic in topics:
            partitions = await reader.partitions(settings.topic(topic))
            if not partitions:
                raise LogReadError(
                    f"topic {settings.topic(topic)} does not exist on {settings.kafka_bootstrap}"
                )
            assigned.extend(partitions)
        found: list[LogRecord] = []
        skipped: Counter[str] = Counter()
        try:
            async for records in reader.replay(assigned, timeout=timeout):
                for record in records:
                    try:
                        envelope = codec.decode(record.key, record.value, record.headers)
                    except codec.DecodeError as exc:
                        skipped[exc.reason] += 1
                        continue
                    found.append(
                        LogRecord(
                            logical[record.topic],
                            record.topic,
                            record.key,
                            record.value,
                            record.headers,
                            envelope,
                        )
                    )
        except ReadTimeout as exc:
            raise LogReadError(f"log not read to its end: {exc}") from exc
    if skipped:
        log.warning("skipped %d undecodable records: %s", sum(skipped.values()), dict(skipped))
    return found
