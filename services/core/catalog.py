"""The topic catalog (``deploy/topics.toml``) and the command that applies it through the admin API.

``apply`` is idempotent: it creates missing topics and brings configs in line, and refuses to change the
partition count of an existing topic (that would move debtors between partitions and strand state).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Literal

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError
from pydantic import BaseModel, ConfigDict, Field

from services.core.cli import Command, main, no_options
from services.core.runtime.clients import partitions
from services.core.settings import DEPLOY_DIR, CommonSettings, ConfigError, load, load_toml

CATALOG_PATH = DEPLOY_DIR / "topics.toml"
_DAY_MS = 86_400_000


class _Defaults(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    partitions: int = Field(ge=1, le=1000)
    replication_factor: int = Field(ge=1, le=7)
    min_insync_replicas: int = Field(ge=1, le=7)
    max_message_bytes: int = Field(ge=1024)


class TopicSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str = Field(pattern=r"^[a-z0-9._-]+$")
    description: str
    partitions: int | None = Field(default=None, ge=1, le=1000)
    retention_days: int | None = Field(default=None, ge=1)
    cleanup_policy: Literal["delete", "compact"] = "delete"
    max_message_bytes: int | None = Field(default=None, ge=1024)


class Catalog(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    defaults: _Defaults
    topics: list[TopicSpec]

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
    bootstrap: str,
    *,
    prefix: str = "",
    catalog: Catalog | None = None,
    partitions: int | None = None,
    replication_factor: int | None = None,
) -> list[str]:
    """Create missing topics and update configs; returns the names created.

    ``partitions`` overrides the default count (tests use fewer partitions to start faster); topics with
    a count of their own in the catalog keep it.
    """
    catalog = catalog or load_catalog()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="collections-topics")
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
            await _wait_for_leaders(bootstrap, [t.name for t in missing])
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
        return [topic.name for topic in missing]
    finally:
        await admin.close()


async def _wait_for_leaders(bootstrap: str, names: list[str]) -> None:
    """Creation returns before every partition's leader serves requests, and producing then fails: wait
    until a ListOffsets on every partition succeeds."""
    timeout = 30.0
    deadline = asyncio.get_running_loop().time() + timeout
    probe = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await probe.start()
    try:
        while True:
            try:
                tps = [tp for name in names for tp in await partitions(probe, name)]
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


def run_apply(args: argparse.Namespace) -> int:
    settings = load(CommonSettings)
    catalog = load_catalog()
    created = asyncio.run(
        apply(
            args.bootstrap or settings.kafka_bootstrap,
            prefix=settings.topic_prefix if args.prefix is None else args.prefix,
            catalog=catalog,
            replication_factor=args.replication_factor,
        )
    )
    print(f"topics applied: {len(catalog.topics)} in catalog, {len(created)} created")
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
}

if __name__ == "__main__":
    sys.exit(main("python -m services.core.catalog", COMMANDS))
