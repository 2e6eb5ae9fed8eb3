"""The gatekeeper's commands: ``collections gatekeeper run | decide | control``."""

from __future__ import annotations

import argparse
import asyncio
import uuid
from datetime import UTC, datetime

from schemas import events as ev
from services.core.cli import Command, no_options
from services.core.clock import clock_from_spec
from services.core.runner import run_service
from services.core.runtime.connector import KafkaConnector
from services.core.runtime.publisher import Publisher
from services.core.settings import CommonSettings, load
from services.gatekeeper import decide_cli
from services.gatekeeper.settings import GatekeeperSettings


def run(args: argparse.Namespace) -> int:
    from services.gatekeeper.app import main

    return run_service("gatekeeper", (CommonSettings, GatekeeperSettings), main)


def configure_control(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["pause", "resume"])
    scope = parser.add_mutually_exclusive_group(required=True)
    scope.add_argument("--all", action="store_true")
    scope.add_argument("--channel", choices=["sms", "email", "voice"])
    scope.add_argument("--template")
    scope.add_argument("--strategy")
    parser.add_argument("--operator", required=True, help="who is doing this (recorded with the control)")
    parser.add_argument("--reason", default="")


def control(args: argparse.Namespace) -> int:
    settings = load(CommonSettings)
    if args.all:
        scope, value = ev.ControlScope.ALL, ""
    elif args.channel:
        scope, value = ev.ControlScope.CHANNEL, args.channel
    elif args.template:
        scope, value = ev.ControlScope.TEMPLATE, args.template
    else:
        scope, value = ev.ControlScope.STRATEGY, args.strategy
    now = clock_from_spec(settings.clock).now() if settings.clock != "wall" else datetime.now(UTC)
    event = ev.OutreachControlChanged(
        scope=scope,
        value=value,
        paused=args.action == "pause",
        operator=args.operator,
        reason=args.reason,
        at=now,
    )
    asyncio.run(_publish(settings, event, now))
    print(f"{args.action} {event.control_key} published")
    return 0


async def _publish(settings: CommonSettings, event: ev.OutreachControlChanged, now: datetime) -> None:
    producer = KafkaConnector(settings).producer("collections-control")
    publisher = Publisher(producer, settings, "control", "/collections/operator")
    await publisher.start()
    try:
        await publisher.publish([(event, str(uuid.uuid4()))], now)
    finally:
        await publisher.stop()


COMMANDS = {
    "run": Command(
        "run the gatekeeper service (settings: COLLECTIONS_*, GATEKEEPER_* variables)", no_options, run
    ),
    "decide": Command(
        "decide contact requests given as JSON lines on stdin (the what-if command)",
        decide_cli.configure,
        decide_cli.run,
        description=decide_cli.__doc__,
    ),
    "control": Command(
        "pause or resume outreach: everything, one channel, one template or one strategy",
        configure_control,
        control,
    ),
}
