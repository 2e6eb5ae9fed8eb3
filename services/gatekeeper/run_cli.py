"""``run`` (the service) and ``control`` (operator pause/resume) subcommands of the gatekeeper."""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime

from schemas import events as ev
from schemas.topics import CONTROL
from services.core import codec
from services.core.clock import clock_from_spec
from services.core.runner import run_service
from services.core.settings import CommonSettings, load
from services.gatekeeper.settings import GatekeeperSettings
from services.publish.__main__ import Prepared, publish


def configure_run(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run the gatekeeper service (settings from COLLECTIONS_* and GATEKEEPER_* variables)."
    )


def run(args: argparse.Namespace) -> int:
    from services.gatekeeper.app import main

    return run_service("gatekeeper", lambda: main(load(CommonSettings), load(GatekeeperSettings)))


def configure_control(parser: argparse.ArgumentParser) -> None:
    parser.description = "Pause or resume outreach: everything, one channel, one template or one strategy."
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
    encoded = codec.encode(event, source="/collections/operator", time=now)
    asyncio.run(publish([Prepared(0, CONTROL, encoded)], settings))
    print(f"{args.action} {event.control_key} published")
    return 0
