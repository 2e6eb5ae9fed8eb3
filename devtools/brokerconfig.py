"""The single-node broker's ``server.properties``, written by one function for the local runtime
(``devtools.localkafka``) and for docker-compose (``devtools.compose``), so that both run the same
listeners' security, authorizer, super users and SASL mechanism, and differ only in where they listen and
keep their files.

Secure: every client listener speaks SASL_SSL (SCRAM-SHA-512 over TLS) and the broker reaches itself on the
first one, as its own super user; the StandardAuthorizer denies what no ACL allows. The controller listener
is PLAINTEXT on loopback (KRaft cannot authenticate it with SCRAM), its anonymous principal a super user.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath

from devtools.kafkasecurity import BROKER_PRINCIPAL

SASL_MECHANISM = "SCRAM-SHA-512"
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
# The controller listener's connections are unauthenticated, so they come as ANONYMOUS.
CONTROLLER_PRINCIPAL = "ANONYMOUS"


@dataclass(frozen=True, slots=True)
class Listener:
    """A client listener: its name, the address its socket binds and the address clients are given."""

    name: str
    bind: str
    advertised: str


@dataclass(frozen=True, slots=True)
class Security:
    """What a secure broker needs: the cluster's admin principal (a super user), its own key and certificate
    chain and the CA that signed it (PEM files), and the password of its own principal."""

    admin: str
    keystore: PurePath
    truststore: PurePath
    broker_password: str


def server_properties(
    listeners: Sequence[Listener], *, controller_port: int, data_dir: PurePath, security: Security | None
) -> str:
    """The broker's configuration; without ``security``, PLAINTEXT with no authorizer (development only)."""
    protocol = "PLAINTEXT" if security is None else "SASL_SSL"
    controller = f"127.0.0.1:{controller_port}"
    binds = [f"{x.name}://{x.bind}" for x in listeners]
    protocols = [f"{x.name}:{protocol}" for x in listeners]
    lines = [
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@{controller}",
        "listeners=" + ",".join([*binds, f"CONTROLLER://{controller}"]),
        "advertised.listeners=" + ",".join(f"{x.name}://{x.advertised}" for x in listeners),
        "listener.security.protocol.map=" + ",".join([*protocols, "CONTROLLER:PLAINTEXT"]),
        f"inter.broker.listener.name={listeners[0].name}",
        "controller.listener.names=CONTROLLER",
        *([] if security is None else _secure(listeners, security)),
        f"log.dirs={data_dir}",
        "auto.create.topics.enable=false",
        "num.partitions=1",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "transaction.state.log.num.partitions=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "group.consumer.min.session.timeout.ms=1000",
        "group.classic.min.session.timeout.ms=1000",
        "log.cleaner.dedupe.buffer.size=2097152",
        "log.segment.bytes=16777216",
        "num.network.threads=2",
        "num.io.threads=2",
        "message.max.bytes=4194304",
    ]
    return "\n".join(lines) + "\n"


def _secure(listeners: Sequence[Listener], security: Security) -> list[str]:
    lines = [
        f"sasl.enabled.mechanisms={SASL_MECHANISM}",
        f"sasl.mechanism.inter.broker.protocol={SASL_MECHANISM}",
        f"authorizer.class.name={AUTHORIZER}",
        "allow.everyone.if.no.acl.found=false",
        f"super.users=User:{security.admin};User:{BROKER_PRINCIPAL};User:{CONTROLLER_PRINCIPAL}",
    ]
    # Every SASL listener needs a login module of its own; only the inter-broker one logs in with it.
    for listener in listeners:
        prefix = f"listener.name.{listener.name.lower()}"
        lines += [
            f"{prefix}.ssl.keystore.type=PEM",
            f"{prefix}.ssl.truststore.type=PEM",
            f"{prefix}.ssl.keystore.location={security.keystore}",
            f"{prefix}.ssl.truststore.location={security.truststore}",
            f"{prefix}.{SASL_MECHANISM.lower()}.sasl.jaas.config="
            + _jaas(BROKER_PRINCIPAL, security.broker_password),
        ]
    return lines


def client_properties(principal: str, password: str, truststore: PurePath) -> str:
    """A client configuration for Kafka's own tools (``--command-config``), as ``principal``."""
    lines = [
        "security.protocol=SASL_SSL",
        f"sasl.mechanism={SASL_MECHANISM}",
        f"sasl.jaas.config={_jaas(principal, password)}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={truststore}",
    ]
    return "\n".join(lines) + "\n"


def _jaas(principal: str, password: str) -> str:
    return (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{principal}" password="{password}";'
    )


def parse(text: str) -> Mapping[str, str]:
    """A properties file as written above (``key=value`` lines) as a mapping."""
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
