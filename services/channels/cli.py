"""The channel workers' commands: ``collections channels run --channel sms|email|voice`` and ``lint``."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from schemas.vocab import Channel
from services.channels.errors import AuthenticationError
from services.channels.settings import SETTINGS, TemplatesSettings
from services.core.cli import Command
from services.core.runner import run_service
from services.core.settings import CommonSettings, load
from services.messaging.templates import lint

# The provider refused our credentials: a supervisor must not restart the worker into the same refusal.
EXIT_CREDENTIALS_REFUSED = 3


def configure_run(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--channel", required=True, choices=[c.value for c in Channel])


def run(args: argparse.Namespace) -> int:
    from services.channels.app import main as serve

    channel = Channel(args.channel)
    try:
        return run_service(
            f"channels-{channel.value}",
            (CommonSettings, SETTINGS[channel]),
            lambda common, config: serve(channel, common, config),
        )
    except AuthenticationError as exc:
        logging.getLogger("services.channels").critical("stopped: provider refused the credentials: %s", exc)
        return EXIT_CREDENTIALS_REFUSED


def configure_lint(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--templates", type=Path, help="templates root (default: CHANNELS_TEMPLATES)")


def lint_templates(args: argparse.Namespace) -> int:
    root = args.templates or load(TemplatesSettings).templates
    problems = lint(root)
    for problem in problems:
        print(problem)
    print(f"{len(problems)} problem(s) in {root}", file=sys.stderr)
    return 1 if problems else 0


COMMANDS = {
    "run": Command("run one channel's worker (settings: COLLECTIONS_*, CHANNELS_*)", configure_run, run),
    "lint": Command(
        "check the message templates; exit 1 naming each problem", configure_lint, lint_templates
    ),
}
