"""Command line of the channel workers: ``python -m services.channels run --channel sms|email|voice`` and
``python -m services.channels lint`` (check the templates, exit 1 naming each problem)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from schemas.vocab import Channel
from services.channels.errors import AuthenticationError
from services.channels.settings import ChannelsSettings
from services.core.runner import configure_logging
from services.core.settings import CommonSettings, ConfigError, load
from services.core.templates import TemplateError, lint


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.channels")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run one channel's worker (settings: COLLECTIONS_*, CHANNELS_*)")
    run.add_argument("--channel", required=True, choices=[c.value for c in Channel])
    check = commands.add_parser("lint", help="check the message templates")
    check.add_argument("--templates", type=Path, help="templates root (default: CHANNELS_TEMPLATES)")
    args = parser.parse_args(argv)
    if args.command == "lint":
        root = args.templates or load(ChannelsSettings).templates
        problems = lint(root)
        for problem in problems:
            print(problem)
        print(f"{len(problems)} problem(s) in {root}", file=sys.stderr)
        return 1 if problems else 0
    return _run(Channel(args.channel))


def _run(channel: Channel) -> int:
    configure_logging(f"channels-{channel.value}")
    try:
        settings = load(CommonSettings)
        config = load(ChannelsSettings)
        from services.channels.app import main as serve

        asyncio.run(serve(channel, settings, config))
    except (ConfigError, TemplateError) as exc:
        print(f"channels-{channel.value}: refusing to start: {exc}", file=sys.stderr)
        return 2
    except AuthenticationError as exc:
        logging.getLogger("services.channels").critical("stopped: provider refused the credentials: %s", exc)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(main())
