"""``collections``: the platform's one console script, ``collections <service> <command> [options]``.

Each service's commands are declared in its own ``cli`` module and imported only when asked for, so that a
command starts without loading the rest of the platform.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Mapping, Sequence

from services.core.cli import Command, Parser, main, single

# service -> (module, attribute, one-line help); the attribute is a command table or a single Command.
SERVICES: dict[str, tuple[str, str, str]] = {
    "gatekeeper": ("services.gatekeeper.cli", "COMMANDS", "the compliance gatekeeper: run, decide, control"),
    "escalation": ("services.escalation.cli", "COMMANDS", "escalation: run, simulate (what-if)"),
    "channels": ("services.channels.cli", "COMMANDS", "the SMS, email and voice workers: run, lint"),
    "webhooks": ("services.webhooks.cli", "COMMANDS", "provider callbacks and unsubscribe pages: run"),
    "portal": ("services.portal.cli", "COMMANDS", "the debtor's self-service portal: run, link"),
    "publish": ("services.publish.cli", "PUBLISH", "validate event lines and publish them (core banking)"),
    "fineract": (
        "services.fineract.cli",
        "COMMANDS",
        "the Apache Fineract adapter: run, translate, bootstrap",
    ),
    "redrive": ("services.core.redrive", "COMMANDS", "dead letters: list, replay, export, import"),
    "topics": ("services.core.catalog", "COMMANDS", "the topic catalog: apply, list, acls"),
    "reporting": ("services.reporting.cli", "COMMANDS", "reports from the event log: report, history, audit"),
    "audit": ("services.reporting.cli", "AUDIT", "the independent compliance audit of the event log"),
    "sandbox": ("services.sandbox.cli", "SANDBOX", "the provider sandboxes for development and tests"),
}


def run(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] not in SERVICES:
        parser = Parser(prog="collections", description=__doc__)
        sub = parser.add_subparsers(dest="service", required=True, metavar="SERVICE")
        for name, (_, _, help) in SERVICES.items():
            sub.add_parser(name, help=help, add_help=False)
        parser.parse_args(args)  # prints the usage or help, exits
        return 2
    module, attribute, _ = SERVICES[args[0]]
    found: Mapping[str, Command] | Command = getattr(importlib.import_module(module), attribute)
    prog = f"collections {args[0]}"
    if isinstance(found, Command):
        return single(prog, found, args[1:])
    return main(prog, found, args[1:])


if __name__ == "__main__":
    sys.exit(run())
