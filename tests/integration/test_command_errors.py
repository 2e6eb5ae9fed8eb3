"""Commands against the broker whose topics are not what they expect: one line naming the setting or the
catalog, exit code 2, no traceback and no wait on metadata that never comes (a wrong prefix is never read as
an empty topic); and the operator's `control list`."""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from devtools.localkafka import LocalKafka
from services.core.catalog import CATALOG_PATH
from services.core.settings import REPO_ROOT, CommonSettings
from tests.command_support import refused, refused_to_start
from tests.conftest import Principal
from tests.support import kafka_env

COLLECTIONS = str(Path(sys.executable).parent / "collections")
SAMPLES = str(REPO_ROOT / "deploy" / "samples" / "events.jsonl")


async def command(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(
        subprocess.run,
        args,
        cwd=REPO_ROOT,
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "topic"),
    [
        (("publish", SAMPLES), "account"),
        (("redrive", "list"), "deadletter"),
        (("gatekeeper", "control", "list"), "control"),
        (("gatekeeper", "control", "pause", "--all", "--operator", "alice"), "control"),
    ],
)
async def test_a_prefix_without_topics_is_named(
    settings: CommonSettings, args: tuple[str, ...], topic: str
) -> None:
    started = time.monotonic()
    result = await command(
        COLLECTIONS, *args, env=kafka_env(settings) | {"COLLECTIONS_TOPIC_PREFIX": "nosuch."}
    )
    line = refused(
        result, "COLLECTIONS_TOPIC_PREFIX (now 'nosuch.')", f"no topic nosuch.collections.{topic}.v1"
    )
    assert "collections topics apply" in line
    # The topics are checked before anything is produced: no wait for their metadata.
    assert time.monotonic() - started < 20


async def test_a_service_on_a_prefix_it_may_not_read_names_the_prefix(kafka: LocalKafka) -> None:
    env = kafka.env("escalation") | {"COLLECTIONS_TOPIC_PREFIX": "nosuch."}
    result = await command(sys.executable, "-m", "services.escalation", "run", env=env)
    line = refused_to_start(result, "COLLECTIONS_TOPIC_PREFIX (now 'nosuch.')", "refused this principal")
    assert line.startswith("escalation: refusing to start: ")


async def test_topics_apply_refuses_to_change_a_partition_count(settings: CommonSettings) -> None:
    # The test's topics have 4 partitions (tests/conftest.py), the catalog asks for more.
    result = await command(COLLECTIONS, "topics", "apply", env=kafka_env(settings))
    line = refused(result, str(CATALOG_PATH), "partitions on the broker", "partition counts of keyed topics")
    assert line.startswith("collections topics: ")


async def test_control_list_shows_the_pauses_in_force(principal: Principal) -> None:
    """As the operator principal: pauses published by the command are listed until resumed; a resume of a
    name that is neither deployed nor paused is refused."""
    env = kafka_env(principal("operator"))

    async def control(*args: str) -> subprocess.CompletedProcess[str]:
        return await command(COLLECTIONS, "gatekeeper", "control", *args, env=env)

    listed = await control("list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines() == ["0 pauses in force"]
    for scope in (("--channel", "sms"), ("--strategy", "standard"), ("--template", "reminder")):
        paused = await control("pause", *scope, "--operator", "alice", "--reason", "carrier incident")
        assert paused.returncode == 0, paused.stderr
    resumed = await control("resume", "--channel", "sms", "--operator", "alice")
    assert resumed.stdout.splitlines() == ["resume channel:sms published"]
    listed = await control("list")
    assert listed.returncode == 0, listed.stderr
    *pauses, total = listed.stdout.splitlines()
    assert total == "2 pauses in force"
    assert [line.split()[0] for line in pauses] == ["strategy:standard", "template:reminder"]
    assert all(line.endswith("by alice: carrier incident") for line in pauses)
    refused(await control("resume", "--template", "retired", "--operator", "alice"), "no template 'retired'")


async def test_the_webhooks_on_a_port_in_use_name_it(principal: Principal) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = kafka_env(principal("webhooks")) | {
            "WEBHOOKS_PUBLIC_BASE_URL": "https://collections.example.com",
            "WEBHOOKS_TWILIO_AUTH_TOKENS": "t" * 32,
            "WEBHOOKS_LINK_SIGNING_KEYS": "k" * 32,
            "WEBHOOKS_PORT": str(port),
        }
        result = await command(sys.executable, "-m", "services.webhooks", "run", env=env)
    line = refused_to_start(
        result, f"cannot listen on 127.0.0.1:{port}", "address already in use", "WEBHOOKS_PORT"
    )
    assert line.startswith("webhooks: refusing to start: ")


async def test_the_portal_on_a_port_in_use_names_it(principal: Principal) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = kafka_env(principal("portal")) | {
            "PORTAL_PUBLIC_BASE_URL": "https://pay.bank.example",
            "PORTAL_LINK_SIGNING_KEYS": "k" * 32,
            "PORTAL_SESSION_KEY": base64.urlsafe_b64encode(b"s" * 32).decode(),
            "PORTAL_KNOWLEDGE_KEYS": "b" * 32,
            "PORTAL_PORT": str(port),
        }
        result = await command(sys.executable, "-m", "services.portal", "run", env=env)
    line = refused_to_start(
        result, f"cannot listen on 127.0.0.1:{port}", "address already in use", "PORTAL_PORT"
    )
    assert line.startswith("portal: refusing to start: ")
