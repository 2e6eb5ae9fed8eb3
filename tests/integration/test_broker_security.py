"""The local broker's default posture, on the wire: TLS that a client must trust, SCRAM passwords it must
know, and ACLs from the catalog that allow each principal exactly what deploy/topics.toml says.

One secure broker for the module (the session's broker is the development one); each test applies the
catalog under a prefix of its own, as the admin principal.
"""

from __future__ import annotations

import asyncio
import ipaddress
import os
import socket
import struct
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import (
    ClusterAuthorizationFailedError,
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
)
from pydantic import SecretStr

from devtools.kafkasecurity import Credentials
from devtools.localkafka import LIB_DIR, LocalKafka
from schemas.topics import CONSENT, DECISIONS, DISPATCH
from services.core import acls
from services.core.catalog import Catalog, apply, load_catalog
from services.core.runtime import clients
from services.core.settings import REPO_ROOT, CommonSettings

REFUSED = (TopicAuthorizationFailedError, ClusterAuthorizationFailedError)


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    broker = LocalKafka(tmp_path_factory.mktemp("secure-kafka"))
    broker.start()
    yield broker
    broker.stop()


@pytest.fixture
async def prefix(secure: LocalKafka) -> str:
    """A fresh topic set with the catalog's ACLs, one record on each topic (written as the admin)."""
    name = f"s{uuid.uuid4().hex[:10]}."
    await apply(secure.settings("admin"), prefix=name, partitions=1)
    producer = clients.producer(secure.settings("admin"), "test-seed")
    await producer.start()
    try:
        for topic in load_catalog().topics:
            await (await producer.send(f"{name}{topic.name}", b"seed", key=b"k", partition=0))
    finally:
        await producer.stop()
    return name


async def can_write(producer: AIOKafkaProducer, topic: str) -> bool:
    try:
        await asyncio.wait_for(await producer.send(topic, b"probe", key=b"k"), 20)
    except REFUSED:
        return False
    return True


async def can_read(consumer: AIOKafkaConsumer, topic: str) -> bool:
    tp = TopicPartition(topic, 0)
    try:
        await clients.partitions(consumer, topic)  # refused here without DESCRIBE (implied by READ or WRITE)
        consumer.assign([tp])
        await consumer.seek_to_beginning(tp)
        for _ in range(50):
            if (await consumer.getmany(tp, timeout_ms=200)).get(tp):
                return True
    except TopicAuthorizationFailedError:
        return False
    raise AssertionError(f"{topic}: neither a record nor a refusal")


def expected(catalog: Catalog, prefix: str) -> set[tuple[str, str, str]]:
    return {(g.principal, g.operation, g.name) for g in catalog.grants(prefix) if g.resource == "topic"}


async def test_a_client_that_does_not_trust_the_ca_is_refused(secure: LocalKafka) -> None:
    untrusting = secure.settings("admin").model_copy(update={"kafka_ca_file": None})  # the system's CAs
    admin = clients.admin(untrusting, "test-untrusting", request_timeout_ms=5000)
    with pytest.raises(KafkaConnectionError):
        await admin.start()
    await admin.close()
    plaintext = CommonSettings(kafka_bootstrap=secure.bootstrap, kafka_security_protocol="PLAINTEXT")
    admin = clients.admin(plaintext, "test-plaintext", request_timeout_ms=5000)
    with pytest.raises(KafkaError):
        await admin.start()
    await admin.close()


async def test_a_wrong_password_or_unknown_user_is_refused(secure: LocalKafka) -> None:
    good = secure.settings("gatekeeper")
    for settings in (
        good.model_copy(update={"kafka_sasl_password": SecretStr("not-the-password")}),
        good.model_copy(update={"kafka_sasl_username": "mallory"}),
    ):
        admin = clients.admin(settings, "test-wrong-password", request_timeout_ms=5000)
        with pytest.raises(KafkaError):
            await admin.start()
        await admin.close()


async def test_workers_and_core_banking_cannot_write_what_only_the_gatekeeper_writes(
    secure: LocalKafka, prefix: str
) -> None:
    refused = {
        "channels-sms": list(DISPATCH.values()),
        "channels-voice": list(DISPATCH.values()),
        "core-banking": [DECISIONS, CONSENT, *DISPATCH.values()],
    }
    for principal, topics in refused.items():
        producer = clients.producer(secure.settings(principal), f"test-{principal}")
        await producer.start()
        try:
            for topic in topics:
                with pytest.raises(TopicAuthorizationFailedError):
                    await asyncio.wait_for(await producer.send(f"{prefix}{topic}", b"forged", key=b"d1"), 20)
        finally:
            await producer.stop()


async def test_each_principal_may_do_exactly_what_the_catalog_says(secure: LocalKafka, prefix: str) -> None:
    catalog = load_catalog()
    topics = [f"{prefix}{t.name}" for t in catalog.topics]
    seen: set[tuple[str, str, str]] = set()
    for principal in catalog.principals:
        settings = secure.settings(principal.name)
        producer = clients.producer(settings, f"test-{principal.name}")
        try:
            await producer.start()
        except ClusterAuthorizationFailedError:
            # The idempotent producer needs WRITE on some topic (KIP-679) to get a producer id: a principal
            # that may write nothing cannot even start one.
            await producer.stop()
        else:
            try:
                seen |= {(principal.name, "WRITE", t) for t in topics if await can_write(producer, t)}
            finally:
                await producer.stop()
        consumer = clients.consumer(settings, None, f"test-{principal.name}", fetch_max_wait_ms=20)
        await consumer.start()
        try:
            seen |= {(principal.name, "READ", t) for t in topics if await can_read(consumer, t)}
        finally:
            await consumer.stop()
    assert seen == expected(catalog, prefix)


async def test_a_service_joins_its_own_consumer_group_and_no_other(secure: LocalKafka, prefix: str) -> None:
    topic = f"{prefix}{DISPATCH[next(iter(DISPATCH))]}"  # the SMS dispatch topic

    async def joins(principal: str, group: str) -> bool:
        consumer = clients.consumer(secure.settings(principal), f"{prefix}{group}", f"test-{principal}")
        await consumer.start()
        try:
            consumer.subscribe([topic])
            for _ in range(100):
                if (await consumer.getmany(timeout_ms=200)).values():
                    await consumer.commit()
                    return True
        except GroupAuthorizationFailedError:
            return False
        finally:
            await consumer.stop()
        raise AssertionError(f"{principal} in {group}: neither records nor a refusal")

    assert await joins("channels-sms", "channels-sms")
    assert not await joins("channels-sms", "gatekeeper")
    assert not await joins("reporting", "channels-sms")


async def test_apply_is_idempotent_and_takes_back_what_the_catalog_no_longer_grants(
    secure: LocalKafka, prefix: str
) -> None:
    catalog = load_catalog()
    admin = secure.settings("admin")
    assert await acls.apply_grants(admin, catalog.grants(prefix), catalog.resources(prefix)) == ([], [])
    fewer = [g for g in catalog.grants(prefix) if not (g.principal == "webhooks" and g.operation == "WRITE")]
    created, deleted = await acls.apply_grants(admin, fewer, catalog.resources(prefix))
    assert created == []
    assert {g.principal for g in deleted} == {"webhooks"} and len(deleted) == 4
    producer = clients.producer(secure.settings("webhooks"), "test-webhooks")
    await producer.start()
    try:
        assert not await can_write(producer, f"{prefix}collections.consent.v1")
    finally:
        await producer.stop()
    await apply(admin, prefix=prefix, partitions=1)  # the catalog as it is: granted again
    producer = clients.producer(secure.settings("webhooks"), "test-webhooks")
    await producer.start()
    try:
        assert await can_write(producer, f"{prefix}collections.consent.v1")
    finally:
        await producer.stop()


async def test_a_principal_declared_after_formatting_gets_a_password(secure: LocalKafka) -> None:
    credentials = secure.credentials
    assert credentials is not None
    before = credentials.password("portal")
    trimmed = {k: v for k, v in credentials.passwords.items() if k != "portal"}
    credentials.model_copy(update={"passwords": trimmed}).write(secure.credentials_file)
    await asyncio.to_thread(secure.ensure_principals)
    after = Credentials.read(secure.credentials_file)
    assert after.password("portal") != before
    admin = clients.admin(secure.settings("portal"), "test-portal")
    await admin.start()  # authenticates with the new password
    await admin.close()


def test_the_credentials_and_keys_are_private_and_the_ca_key_is_not_kept(secure: LocalKafka) -> None:
    for path in (secure.credentials_file, secure.properties, secure.workdir / "tls" / "broker.pem"):
        assert path.stat().st_mode & 0o077 == 0, path
    assert sorted(p.name for p in (secure.workdir / "tls").iterdir()) == ["broker.pem", "ca.pem"]
    assert "PRIVATE KEY" not in (secure.workdir / "tls" / "ca.pem").read_text()
    credentials = secure.credentials
    assert credentials is not None
    assert set(credentials.passwords) >= {p.name for p in load_catalog().principals} | {"admin", "broker"}
    assert len(set(credentials.passwords.values())) == len(credentials.passwords)


def _api_versions_answer(port: int) -> bytes:
    """Send an ApiVersions v0 request in the clear and return what comes back (empty if nothing does)."""
    client_id = b"probe"
    body = struct.pack(">hhih", 18, 0, 7, len(client_id)) + client_id
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(struct.pack(">i", len(body)) + body)
        try:
            head = sock.recv(8)
        except (ConnectionResetError, TimeoutError):
            return b""
    return head


def _listening_addresses(port: int) -> set[str]:
    """The local addresses a socket listens on ``port`` at (IPv4, and IPv6 with mapped IPv4 addresses)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if int(hex_port, 16) != port or state != "0A":  # 0A: LISTEN
                continue
            # The kernel prints each 32-bit word of the address in host (little-endian) order.
            raw = b"".join(struct.pack("<I", int(address[i : i + 8], 16)) for i in range(0, len(address), 8))
            ip = ipaddress.ip_address(raw)
            mapped = ip.ipv4_mapped if isinstance(ip, ipaddress.IPv6Address) else None
            found.add(str(mapped or ip))
    return found


def test_the_controller_listener_is_plaintext_on_loopback_only(secure: LocalKafka) -> None:
    config = dict(line.split("=", 1) for line in secure.properties.read_text().splitlines() if "=" in line)
    assert "CONTROLLER:PLAINTEXT" in config["listener.security.protocol.map"].split(",")
    assert "CLIENT:SASL_SSL" in config["listener.security.protocol.map"].split(",")
    assert config["allow.everyone.if.no.acl.found"] == "false"
    assert _listening_addresses(secure.controller_port) == {"127.0.0.1"}
    assert _listening_addresses(secure.port) == {"127.0.0.1"}
    # The controller answers a plaintext request (correlation id 7 comes back) ...
    answer = _api_versions_answer(secure.controller_port)
    assert len(answer) == 8 and struct.unpack(">i", answer[4:])[0] == 7
    # ... the client listener does not: it speaks TLS only.
    answer = _api_versions_answer(secure.port)
    assert len(answer) < 8 or struct.unpack(">i", answer[4:8])[0] != 7


async def test_the_printed_commands_work_with_kafkas_own_tools(secure: LocalKafka, tmp_path: Path) -> None:
    """``collections topics acls`` for a bank's cluster: its lines, run by a shell with Kafka's tools, create
    a user that can log in and ACLs that allow what they say (two lines of one principal: each is a JVM)."""
    credentials = secure.credentials
    assert credentials is not None
    name = f"s{uuid.uuid4().hex[:10]}."
    await apply(secure.settings("admin"), prefix=name, partitions=1, acl=False)
    wanted = {("topic", "WRITE"), ("group", "READ")}
    grants = load_catalog().grants(name)
    chosen = [g for g in grants if g.principal == "core-banking" and (g.resource, g.operation) in wanted]
    lines = acls.script(chosen, ["script-user"], bootstrap=secure.bootstrap)
    (tmp_path / "admin.properties").write_text(
        "security.protocol=SASL_SSL\nsasl.mechanism=SCRAM-SHA-512\nssl.truststore.type=PEM\n"
        f"ssl.truststore.location={credentials.ca_file}\n"
        "sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="admin" password="{credentials.password("admin")}";\n'
    )
    tools = (
        f"java() {{ command java -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -cp '{LIB_DIR}/*' \"$@\"; }}\n"
        'kafka-acls.sh() { java org.apache.kafka.tools.AclCommand "$@"; }\n'
        'kafka-configs.sh() { java kafka.admin.ConfigCommand "$@"; }\n'
        "set -e\n"
    )
    result = await asyncio.to_thread(
        subprocess.run,
        ["bash", "-c", tools + "\n".join(lines)],
        cwd=tmp_path,
        env=os.environ | {"KAFKA_PASSWORD_SCRIPT_USER": "from-the-script"},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    user = secure.settings("admin").model_copy(
        update={"kafka_sasl_username": "script-user", "kafka_sasl_password": SecretStr("from-the-script")}
    )
    admin = clients.admin(user, "test-script-user")
    await admin.start()  # the user the script made logs in
    await admin.close()
    producer = clients.producer(secure.settings("core-banking"), "test-core-banking")
    await producer.start()
    try:
        assert await can_write(producer, f"{name}collections.account.v1")
        assert not await can_write(producer, f"{name}collections.consent.v1")
    finally:
        await producer.stop()


async def test_a_command_as_the_wrong_principal_fails_in_one_line(secure: LocalKafka, prefix: str) -> None:
    """``collections publish`` with core banking's credentials from the environment publishes; with the
    read-only reporting principal's the broker refuses it, and the command says so in one line (exit 2)."""

    events = REPO_ROOT / "deploy" / "samples" / "events.jsonl"

    def publish(principal: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "services.publish", str(events)],
            cwd=REPO_ROOT,
            env=os.environ | secure.env(principal) | {"COLLECTIONS_TOPIC_PREFIX": prefix},
            capture_output=True,
            text=True,
            timeout=60,
        )

    published = await asyncio.to_thread(publish, "core-banking")
    assert published.returncode == 0, published.stderr[-2000:]
    refused = await asyncio.to_thread(publish, "reporting")
    assert refused.returncode == 2, refused.stderr[-2000:]
    lines = [line for line in refused.stderr.splitlines() if line.startswith("python -m services.publish:")]
    assert len(lines) == 1 and "refused this principal" in lines[0] and "Traceback" not in refused.stderr
