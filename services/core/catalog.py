"""The topic catalog (``deploy/topics.toml``) and the command that applies it through the admin API.

``apply`` is idempotent: it creates missing topics and brings configs in line, and refuses to change the
partition count of an existing topic (that would move debtors between partitions and strand state). On an
authenticated connection it also makes the ACLs on the catalog's topics and groups exactly what the catalog
grants (``Catalog.grants``), and with ``--users-from-env`` creates or resets the SCRAM users whose passwords
it is given (``KAFKA_PASSWORD_<NAME>``); ``acls`` prints them as Kafka tool commands for a bank's own
cluster.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from aiokafka.admin import NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError
from pydantic import BaseModel, ConfigDict, Field, model_validator

from schemas.topics import DISPATCH
from services.core import acls
from services.core.acls import Grant
from services.core.cli import Command, main, no_options
from services.core.runtime import clients
from services.core.settings import DEPLOY_DIR, CommonSettings, ConfigError, load, load_toml

CATALOG_PATH = DEPLOY_DIR / "topics.toml"
_DAY_MS = 86_400_000


class _Defaults(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    partitions: int = Field(ge=1, le=1000)
    replication_factor: int = Field(ge=1, le=7)
    min_insync_replicas: int = Field(ge=1, le=7)
    max_message_bytes: int = Field(ge=1024)


_PRINCIPAL = r"^[a-z][a-z0-9-]*$"


class Access(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    admin: str = Field(pattern=_PRINCIPAL)  # the tooling: a super user of the cluster, no ACLs
    redrive: str = Field(pattern=_PRINCIPAL)  # may write every redrivable topic


class Principal(BaseModel):
    """A Kafka user (SASL/SCRAM) that one service or command authenticates as."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(pattern=_PRINCIPAL)
    description: str
    groups: list[str] = []  # consumer groups it joins (logical: the topic prefix goes before them)


class TopicSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(pattern=r"^[a-z0-9._-]+$")
    description: str
    writers: list[str]
    readers: list[str]
    redrivable: bool = False  # the redrive principal may put dead letters back on it
    partitions: int | None = Field(default=None, ge=1, le=1000)
    retention_days: int | None = Field(default=None, ge=1)
    cleanup_policy: Literal["delete", "compact"] = "delete"
    max_message_bytes: int | None = Field(default=None, ge=1024)


class Catalog(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    defaults: _Defaults
    access: Access
    principals: list[Principal]
    topics: list[TopicSpec]

    @model_validator(mode="after")
    def _known_principals(self) -> Catalog:
        names = [p.name for p in self.principals]
        if len(set(names)) != len(names):
            raise ValueError("principals: a name is declared twice")
        if self.access.admin in names:
            raise ValueError(f"access.admin: {self.access.admin} is a super user, not one of the principals")
        if self.access.redrive not in names:
            raise ValueError(f"access.redrive: {self.access.redrive} is not a declared principal")
        for topic in self.topics:
            for role, who in (("writers", topic.writers), ("readers", topic.readers)):
                unknown = sorted(set(who) - set(names))
                if unknown:
                    raise ValueError(f"topic {topic.name}: {role} {unknown} are not declared principals")
        return self

    @model_validator(mode="after")
    def _dispatch_never_redrivable(self) -> Catalog:
        # Redrive writes what it puts back without the gatekeeper: an approval that could be redriven would be
        # a send the gatekeeper never decided. A failed approval is redone by redriving its request.
        for topic in self.topics:
            if topic.redrivable and topic.name in DISPATCH.values():
                raise ValueError(
                    f"topic {topic.name}: a dispatch topic is never redrivable (redrive the contact request "
                    "instead, and the gatekeeper decides again)"
                )
        return self

    def writers(self, topic: TopicSpec) -> list[str]:
        """Who may write ``topic``: its writers, and the redrive principal if it is redrivable."""
        extra = [self.access.redrive] if topic.redrivable and self.access.redrive not in topic.writers else []
        return [*topic.writers, *extra]

    def grants(self, prefix: str = "") -> list[Grant]:
        """Every ACL the catalog asks for, on the topics and groups of a deployment with ``prefix``.

        Topic READ or WRITE (each implies DESCRIBE) and group READ, on literal names: a prefixed pattern would
        also cover names that do not exist yet. An idempotent producer needs no cluster ACL: since Kafka 2.8
        (KIP-679) WRITE on any topic allows it to get a producer id."""
        found = {
            grant
            for topic in self.topics
            for grant in (
                *(Grant(who, "topic", f"{prefix}{topic.name}", "WRITE") for who in self.writers(topic)),
                *(Grant(who, "topic", f"{prefix}{topic.name}", "READ") for who in topic.readers),
            )
        }
        found |= {
            Grant(p.name, "group", f"{prefix}{group}", "READ") for p in self.principals for group in p.groups
        }
        return sorted(found)

    def resources(self, prefix: str = "") -> set[tuple[acls.Resource, str]]:
        """The topics and groups whose ACLs ``apply`` owns (every other resource's ACLs it leaves alone)."""
        topics: set[tuple[acls.Resource, str]] = {("topic", f"{prefix}{t.name}") for t in self.topics}
        return topics | {("group", f"{prefix}{g}") for p in self.principals for g in p.groups}

    def spec(self, name: str) -> TopicSpec:
        for topic in self.topics:
            if topic.name == name:
                return topic
        raise KeyError(name)

    def partitions(self, topic: TopicSpec) -> int:
        return topic.partitions or self.defaults.partitions

    def configs(self, topic: TopicSpec) -> dict[str, str]:
        configs = {
            "cleanup.policy": topic.cleanup_policy,
            "max.message.bytes": str(topic.max_message_bytes or self.defaults.max_message_bytes),
            "min.insync.replicas": str(self.defaults.min_insync_replicas),
        }
        if topic.cleanup_policy == "delete":
            configs["retention.ms"] = str(topic.retention_days * _DAY_MS) if topic.retention_days else "-1"
        return configs


def load_catalog(path: Path = CATALOG_PATH) -> Catalog:
    return load_toml(path, Catalog)


async def apply(
    target: CommonSettings | str,
    *,
    prefix: str = "",
    catalog: Catalog | None = None,
    partitions: int | None = None,
    replication_factor: int | None = None,
    acl: bool | None = None,
) -> list[str]:
    """Create missing topics, update configs and apply the ACLs; returns the names created.

    ``target`` is the settings of the cluster's admin principal (a bare bootstrap string means a PLAINTEXT
    broker). ``partitions`` overrides the default count (tests use fewer partitions to start faster); topics
    with a count of their own in the catalog keep it. ``acl``: apply the catalog's ACLs; by default only on
    an authenticated (SASL_SSL) connection, since a broker without authentication has no principals.
    """
    settings = (
        CommonSettings(kafka_bootstrap=target, kafka_security_protocol="PLAINTEXT")
        if isinstance(target, str)
        else target
    )
    catalog = catalog or load_catalog()
    admin = clients.admin(settings, "collections-topics")
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = {f"{prefix}{t.name}": t for t in catalog.topics}
        missing = [
            NewTopic(
                name,
                spec.partitions or partitions or catalog.defaults.partitions,
                replication_factor or catalog.defaults.replication_factor,
                topic_configs=catalog.configs(spec),
            )
            for name, spec in wanted.items()
            if name not in existing
        ]
        if missing:
            await admin.create_topics(missing)
            await _wait_for_leaders(settings, [t.name for t in missing])
        present = [name for name in wanted if name in existing]
        if present:
            described = await admin.describe_topics(present)
            for info in described:
                spec = wanted[info["topic"]]
                have, want = (
                    len(info["partitions"]),
                    spec.partitions or partitions or catalog.defaults.partitions,
                )
                if have != want:
                    raise ConfigError(
                        f"{CATALOG_PATH}: topic {info['topic']} has {have} partitions on the broker but "
                        f"{want} in the catalog; partition counts of keyed topics are never changed"
                    )
            await admin.alter_configs(
                [
                    ConfigResource(ConfigResourceType.TOPIC, name, configs=catalog.configs(wanted[name]))
                    for name in present
                ]
            )
    finally:
        await admin.close()
    if acl if acl is not None else settings.kafka_security_protocol == "SASL_SSL":
        acls.require_authenticated(settings)
        await acls.apply_grants(settings, catalog.grants(prefix), catalog.resources(prefix))
    return [topic.name for topic in missing]


async def _wait_for_leaders(settings: CommonSettings, names: list[str]) -> None:
    """Creation returns before every partition's leader serves requests, and producing then fails: wait
    until a ListOffsets on every partition succeeds."""
    timeout = 30.0
    deadline = asyncio.get_running_loop().time() + timeout
    probe = clients.consumer(settings, None, "collections-topics")
    await probe.start()
    try:
        while True:
            try:
                tps = [tp for name in names for tp in await clients.partitions(probe, name)]
                if len({tp.topic for tp in tps}) == len(names):
                    await probe.end_offsets(tps)
                    return
            except KafkaError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise ConfigError(f"topics {names} have no serving partition leaders after {timeout:.0f}s")
            await asyncio.sleep(0.1)
    finally:
        await probe.stop()


def configure_apply(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap", help="defaults to COLLECTIONS_KAFKA_BOOTSTRAP")
    parser.add_argument("--prefix", help="defaults to COLLECTIONS_TOPIC_PREFIX")
    parser.add_argument("--replication-factor", type=int)
    parser.add_argument(
        "--acls",
        choices=["auto", "yes", "no"],
        default="auto",
        help="apply the catalog's ACLs (auto: when COLLECTIONS_KAFKA_SECURITY_PROTOCOL is SASL_SSL)",
    )
    parser.add_argument(
        "--users-from-env",
        action="store_true",
        help="also create or reset the SCRAM user of each principal whose KAFKA_PASSWORD_<NAME> variable is "
        "set (docker-compose's topics-init; at least one must be)",
    )


def run_apply(args: argparse.Namespace) -> int:
    # --bootstrap is checked as COLLECTIONS_KAFKA_BOOTSTRAP is.
    settings = load(CommonSettings, **({"kafka_bootstrap": args.bootstrap} if args.bootstrap else {}))
    catalog = load_catalog()
    users = users_from_env(catalog, settings, os.environ) if args.users_from_env else {}
    created = asyncio.run(
        apply(
            settings,
            prefix=settings.topic_prefix if args.prefix is None else args.prefix,
            catalog=catalog,
            replication_factor=args.replication_factor,
            acl={"auto": None, "yes": True, "no": False}[args.acls],
        )
    )
    print(f"topics applied: {len(catalog.topics)} in catalog, {len(created)} created")
    if users:
        asyncio.run(acls.upsert_users(settings, users))
        print(f"SCRAM users set: {', '.join(sorted(users))}")
    return 0


def users_from_env(catalog: Catalog, settings: CommonSettings, environ: Mapping[str, str]) -> dict[str, str]:
    """The passwords ``--users-from-env`` sets, checked before anything is applied: at least one principal's
    ``KAFKA_PASSWORD_<NAME>``, over an authenticated connection (the admin principal's)."""
    acls.require_authenticated(settings)
    names = [p.name for p in catalog.principals]
    users = acls.passwords_from_env(names, environ)
    if not users:
        raise ConfigError(
            f"--users-from-env: no KAFKA_PASSWORD_<NAME> is set for any principal of {CATALOG_PATH} "
            f"(such as {acls.password_variable(names[0])})"
        )
    return users


def principal_table(catalog: Catalog) -> list[str]:
    """Each principal with the topics it writes and reads and its groups, as a Markdown table."""

    def short(name: str) -> str:
        return f"`{name.removeprefix('collections.').removesuffix('.v1')}`"

    lines = ["| principal | runs as | writes | reads | groups |", "|---|---|---|---|---|"]
    for p in catalog.principals:
        writes = [short(t.name) for t in catalog.topics if p.name in catalog.writers(t)]
        reads = [short(t.name) for t in catalog.topics if p.name in t.readers]
        groups = [f"`{g}`" for g in p.groups]
        cells = [f"`{p.name}`", p.description, *(", ".join(c) or "-" for c in (writes, reads, groups))]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def configure_acls(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--prefix", help="defaults to COLLECTIONS_TOPIC_PREFIX")
    parser.add_argument("--bootstrap", help="put in the lines; defaults to COLLECTIONS_KAFKA_BOOTSTRAP")
    parser.add_argument(
        "--format",
        choices=["script", "table", "markdown"],
        default="script",
        help="Kafka tool commands, one line per ACL, or a table per principal (docs/operations.md)",
    )


def run_acls(args: argparse.Namespace) -> int:
    settings = load(CommonSettings)
    catalog = load_catalog()
    prefix = settings.topic_prefix if args.prefix is None else args.prefix
    grants = catalog.grants(prefix)
    if args.format == "table":
        for grant in grants:
            print(f"User:{grant.principal:16} {grant.operation:5} {grant.resource:5} {grant.name}")
        return 0
    if args.format == "markdown":
        print("\n".join(principal_table(catalog)))
        return 0
    names = [p.name for p in catalog.principals]
    for line in acls.script(grants, names, bootstrap=args.bootstrap or settings.kafka_bootstrap):
        print(line)
    return 0


def run_list(args: argparse.Namespace) -> int:
    catalog = load_catalog()
    for topic in catalog.topics:
        print(f"{topic.name:40} {catalog.partitions(topic):>4}  {topic.description}")
    return 0


COMMANDS = {
    "apply": Command(
        "create missing topics and align their settings with the catalog", configure_apply, run_apply
    ),
    "list": Command("list the catalog's topics", no_options, run_list),
    "acls": Command(
        "print the SCRAM users and ACLs the catalog asks for, as kafka-configs.sh and kafka-acls.sh lines",
        configure_acls,
        run_acls,
    ),
}

if __name__ == "__main__":
    sys.exit(main("python -m services.core.catalog", COMMANDS))
