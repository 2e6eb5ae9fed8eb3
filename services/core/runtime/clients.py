"""Kafka clients configured the one way every service uses them (acks=all, manual commits)."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from services.core.runtime.transport import Consumer
from services.core.settings import CommonSettings

# A dead letter carries the refused record whole (base64), so it may exceed any event's size limit.
LARGE_REQUEST_BYTES = 4_194_304


def producer(
    settings: CommonSettings, client_id: str, *, max_request_size: int = LARGE_REQUEST_BYTES
) -> AIOKafkaProducer:
    # Idempotent producer: a retried batch is not written twice. linger_ms lets the batch fill up.
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        linger_ms=5,
        max_request_size=max_request_size,
        request_timeout_ms=30_000,
    )


def consumer(
    settings: CommonSettings, group: str | None, client_id: str, **extra: object
) -> AIOKafkaConsumer:
    # Offsets are committed by hand, only after every output of the batch is acknowledged.
    return AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap,
        group_id=group,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
        max_poll_interval_ms=300_000,
        **extra,
    )


async def partitions(client: Consumer, topic: str) -> list[TopicPartition]:
    """Every partition of ``topic``, fetching its metadata first (a fresh consumer has none)."""
    if isinstance(client, AIOKafkaConsumer):
        # aiokafka has no public call for "metadata of this topic now"; add_topic forces the update.
        await client._client.add_topic(topic)
    return [TopicPartition(topic, p) for p in sorted(client.partitions_for_topic(topic) or ())]
