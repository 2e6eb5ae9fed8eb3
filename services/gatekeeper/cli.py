"""The gatekeeper's commands: ``collections gatekeeper run | decide | keys | control``."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
from datetime import UTC, datetime

from pydantic import SecretStr

from schemas import events as ev
from schemas.topics import CONTROL
from services.core import signing
from services.core.cli import Command, Parser, no_options
from services.core.clock import clock_from_spec
from services.core.runner import run_service
from services.core.runtime import clients
from services.core.runtime.connector import KafkaConnector
from services.core.runtime.publisher import Publisher
from services.core.runtime.reader import TopicReader
from services.core.settings import CommonSettings, ConfigError, load
from services.core.strategies import StrategyFile, strategy_names
from services.gatekeeper import decide_cli
from services.gatekeeper.controls import Controls
from services.gatekeeper.settings import GatekeeperSettings, PoliciesSettings
from services.messaging.templates import Catalog


def run(args: argparse.Namespace) -> int:
    from services.gatekeeper.app import main

    return run_service("gatekeeper", (CommonSettings, GatekeeperSettings), main)


def configure_control(parser: argparse.ArgumentParser) -> None:
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=Parser)
    for action, verb in (
        ("pause", "defer every request in scope with PAUSED"),
        ("resume", "decide them again"),
    ):
        change = actions.add_parser(action, help=f"{verb}: --all, --channel, --template or --strategy")
        scope = change.add_mutually_exclusive_group(required=True)
        scope.add_argument("--all", action="store_true")
        scope.add_argument("--channel", choices=["sms", "email", "voice"])
        scope.add_argument("--template", help="a template of the catalog (GATEKEEPER_TEMPLATES)")
        scope.add_argument("--strategy", help="a deployed strategy (the files beside ESCALATION_STRATEGY)")
        change.add_argument("--operator", required=True, help="who is doing this (recorded with the control)")
        change.add_argument("--reason", default="")
    actions.add_parser(
        "list", help="the pauses in force, as the gatekeeper reads them from the control topic"
    )


def control(args: argparse.Namespace) -> int:
    settings = load(CommonSettings)
    if args.action == "list":
        paused = asyncio.run(_paused(settings))
        for key, event in sorted(paused.items()):
            reason = f": {event.reason}" if event.reason else ""
            print(f"{key:32} paused {event.at.isoformat()} by {event.operator}{reason}")
        print(f"{len(paused)} {'pause' if len(paused) == 1 else 'pauses'} in force")
        return 0
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
    unknown = _unknown(scope, value)
    # A pause of a name nothing carries would hold nothing; a resume of one may end a pause made before the
    # name was retired, so it is refused only if no such pause is in force.
    if unknown is not None and (event.paused or event.control_key not in asyncio.run(_paused(settings))):
        raise ConfigError(unknown)
    asyncio.run(_publish(settings, event, now))
    print(f"{args.action} {event.control_key} published")
    return 0


def _unknown(scope: ev.ControlScope, value: str) -> str | None:
    """Why ``value`` names no template or strategy the services load, or None if it names one."""
    if scope is ev.ControlScope.TEMPLATE:
        folder = load(PoliciesSettings).templates
        names: frozenset[str] = frozenset(Catalog.load(folder).templates)
        where = f"the template catalog {folder / 'catalog.toml'} (GATEKEEPER_TEMPLATES)"
    elif scope is ev.ControlScope.STRATEGY:
        path = load(StrategyFile).strategy
        names = strategy_names(path)
        where = f"the strategy files of {path.parent} (ESCALATION_STRATEGY)"
    else:
        return None
    if value in names:
        return None
    return f"no {scope.value} {value!r} in {where}; known: {', '.join(sorted(names))}"


async def _paused(settings: CommonSettings) -> dict[str, ev.OutreachControlChanged]:
    """The pauses in force: the control topic read to its end, as the gatekeeper reads it at start-up."""
    from services.gatekeeper.app import ControlFeed

    # A wrong prefix would otherwise read as a control topic without pauses.
    await clients.check_topics(settings, [settings.topic(CONTROL)], "collections-control")
    controls = Controls()
    feed = ControlFeed(
        TopicReader.connect(settings, "collections-control"), settings.topic(CONTROL), controls
    )
    try:
        await feed.catch_up()
    finally:
        await feed.reader.stop()
    return controls.paused


async def _publish(settings: CommonSettings, event: ev.OutreachControlChanged, now: datetime) -> None:
    await clients.check_topics(settings, [settings.topic(CONTROL)], "collections-control")
    producer = KafkaConnector(settings).producer("collections-control")
    publisher = Publisher(producer, settings, "control", "/collections/operator")
    await publisher.start()
    try:
        await publisher.publish([(event, str(uuid.uuid4()))], now)
    finally:
        await publisher.stop()


def configure_keys(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["generate", "list"])


def keys(args: argparse.Namespace) -> int:
    """``generate``: a new key pair. ``list``: the signing key and the public keys in force, by id."""
    if args.action == "generate":
        private, public = signing.generate()
        print(f"GATEKEEPER_SIGNING_KEY={private}")
        print(f"CHANNELS_APPROVAL_KEYS={public}")
        print(
            "The private key goes to the gatekeeper only; the public key to the workers and the audit "
            "(AUDIT_APPROVAL_KEYS). During a rotation both keep the old public key too.",
            file=sys.stderr,
        )
        return 0
    signer = os.environ.get("GATEKEEPER_SIGNING_KEY")
    accepted = [k.strip() for k in os.environ.get("CHANNELS_APPROVAL_KEYS", "").split(",") if k.strip()]
    try:
        signer_id = signing.ApprovalSigner(SecretStr(signer)).key_id if signer else None
        accepted_ids = signing.ApprovalVerifier(accepted).key_ids
    except ValueError as exc:
        raise ConfigError(f"a key is malformed: {exc}") from exc
    print(f"signing key (GATEKEEPER_SIGNING_KEY): {signer_id or 'not set'}")
    for key in accepted_ids:
        print(f"accepted (CHANNELS_APPROVAL_KEYS):   {key}{'  <- signs' if key == signer_id else ''}")
    if signer_id is not None and accepted and signer_id not in accepted_ids:
        print(
            "warning: the workers would refuse every approval: the signing key is not among the accepted keys"
        )
        return 1
    return 0


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
    "keys": Command("generate an approval signing key pair, or list the keys in force", configure_keys, keys),
    "control": Command(
        "pause or resume outreach (everything, a channel, a template or a strategy); list the pauses",
        configure_control,
        control,
    ),
}
