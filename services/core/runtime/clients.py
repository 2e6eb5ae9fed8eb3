"""Kafka clients configured the one way every service uses them (acks=all, manual commits), and the one place
that says how a client reaches and authenticates to the broker.

Every Kafka client of the platform, its tools and its tests is built from ``connection`` (aiokafka) or
``librdkafka_config`` (confluent-kafka, for ACLs and SCRAM users only): SASL_SSL with SCRAM-SHA-512 and a
TLS context that trusts ``COLLECTIONS_KAFKA_CA_FILE`` and checks the broker's name, or PLAINTEXT for a broker
without authentication.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import TopicAuthorizationFailedError

from services.core.runtime.transport import Consumer
from services.core.settings import CommonSettings, ConfigError

# A dead letter carries the refused record whole (base64), so it may exceed any event's size limit.
LARGE_REQUEST_BYTES = 4_194_304
SASL_MECHANISM = "SCRAM-SHA-512"


def _credentials(settings: CommonSettings) -> tuple[str, str]:
    password = settings.kafka_sasl_password.get_secret_value() if settings.kafka_sasl_password else ""
    if not settings.kafka_sasl_username or not password:
        raise ConfigError(
            "COLLECTIONS_KAFKA_SECURITY_PROTOCOL=SASL_SSL needs COLLECTIONS_KAFKA_SASL_USERNAME and "
            "COLLECTIONS_KAFKA_SASL_PASSWORD (the service's principal)"
        )
    return settings.kafka_sasl_username, password


def ssl_context(settings: CommonSettings) -> ssl.SSLContext:
    """TLS 1.2+ trusting ``kafka_ca_file`` (or the system's CAs), with the broker's host name checked."""
    try:
        context = ssl.create_default_context(
            cafile=str(settings.kafka_ca_file) if settings.kafka_ca_file else None
        )
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"COLLECTIONS_KAFKA_CA_FILE: cannot load {settings.kafka_ca_file}: {exc}") from exc
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def connection(settings: CommonSettings) -> dict[str, Any]:
    """The keyword arguments that point an aiokafka producer, consumer or admin client at the broker."""
    if settings.kafka_security_protocol == "PLAINTEXT":
        return {"bootstrap_servers": settings.kafka_bootstrap, "security_protocol": "PLAINTEXT"}
    username, password = _credentials(settings)
    return {
        "bootstrap_servers": settings.kafka_bootstrap,
        "security_protocol": "SASL_SSL",
        "ssl_context": ssl_context(settings),
        "sasl_mechanism": SASL_MECHANISM,
        "sasl_plain_username": username,
        "sasl_plain_password": password,
    }


def librdkafka_config(settings: CommonSettings, client_id: str) -> dict[str, str | int | float | bool]:
    """The same connection for a confluent-kafka client (the ACL and SCRAM admin calls)."""
    config: dict[str, str | int | float | bool] = {
        "bootstrap.servers": settings.kafka_bootstrap,
        "client.id": client_id,
        "security.protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol == "SASL_SSL":
        username, password = _credentials(settings)
        config |= {
            "sasl.mechanism": SASL_MECHANISM,
            "sasl.username": username,
            "sasl.password": password,
            "ssl.endpoint.identification.algorithm": "https",
        }
        if settings.kafka_ca_file:
            config["ssl.ca.location"] = str(settings.kafka_ca_file)
    return config


def producer(settings: CommonSettings, client_id: str, **extra: object) -> AIOKafkaProducer:
    """An idempotent producer (a retried batch is not written twice) that waits for every in-sync replica;
    ``extra`` overrides the batching (linger_ms lets a batch fill up)."""
    options: dict[str, object] = {
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "max_request_size": LARGE_REQUEST_BYTES,
        "request_timeout_ms": 30_000,
    }
    return AIOKafkaProducer(**connection(settings), client_id=client_id, **(options | extra))


def consumer(
    settings: CommonSettings, group: str | None, client_id: str, **extra: object
) -> AIOKafkaConsumer:
    # Offsets are committed by hand, only after every output of the batch is acknowledged.
    return AIOKafkaConsumer(
        **connection(settings),
        group_id=group,
        client_id=client_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=settings.heartbeat_interval_ms,
        max_poll_interval_ms=300_000,
        **extra,
    )


def admin(settings: CommonSettings, client_id: str, **extra: object) -> AIOKafkaAdminClient:
    """An aiokafka admin client (topics, configs, offsets); ACLs go through ``services.core.acls``."""
    return AIOKafkaAdminClient(**connection(settings), client_id=client_id, **extra)


async def partitions(client: Consumer, topic: str) -> list[TopicPartition]:
    """Every partition of ``topic``, fetching its metadata first (a fresh consumer has none).

    Raises ``TopicAuthorizationFailedError`` if the principal may not even describe the topic: aiokafka
    would otherwise treat it as a topic without partitions, and a reader would wait on it forever."""
    if isinstance(client, AIOKafkaConsumer):
        # aiokafka has no public call for "metadata of this topic now"; add_topic forces the update.
        await client._client.add_topic(topic)
        if topic in client._client.cluster.unauthorized_topics:
            raise TopicAuthorizationFailedError(topic)
    return [TopicPartition(topic, p) for p in sorted(client.partitions_for_topic(topic) or ())]


async def require_topics(client: Consumer, settings: CommonSettings, topics: Iterable[str]) -> None:
    """Fail at once, naming the prefix, if one of ``topics`` (physical names) is not on the broker or not
    visible to this principal: with a wrong ``COLLECTIONS_TOPIC_PREFIX`` a producer would wait for the
    topic's metadata, then fail without saying why."""
    missing, refused = [], []
    for topic in topics:
        try:
            if not await partitions(client, topic):
                missing.append(topic)
        except TopicAuthorizationFailedError:
            refused.append(topic)
    prefix = f"check COLLECTIONS_TOPIC_PREFIX (now {settings.topic_prefix!r})"
    if refused:
        raise ConfigError(
            f"the Kafka broker refused this principal the topics {', '.join(refused)}: {prefix}; what each "
            "principal may write and read: docs/operations.md, or `collections topics acls --format table`"
        )
    if missing:
        raise ConfigError(
            f"no topic {', '.join(missing)} on the broker at {settings.kafka_bootstrap}: {prefix}; "
            "`collections topics apply` creates the catalog's topics"
        )


async def check_topics(settings: CommonSettings, topics: Iterable[str], client_id: str) -> None:
    """``require_topics`` for a command that only produces: through a group-less consumer of its own."""
    probe = consumer(settings, None, client_id)
    try:
        await probe.start()
        await require_topics(probe, settings, topics)
    finally:
        await probe.stop()
