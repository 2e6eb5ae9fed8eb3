"""Command line of the channel workers: ``python -m services.channels run --channel sms|email|voice`` and
``python -m services.channels lint`` (check the templates, exit 1 naming each problem)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from schemas.vocab import Channel
from services.channels.errors import AuthenticationError
from services.channels.settings import ChannelsSettings
from services.core.runner import run_service
from services.core.settings import CommonSettings, load
from services.core.templates import lint


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
    from services.channels.app import main as serve

    try:
        return run_service(
            f"channels-{channel.value}", lambda: serve(channel, load(CommonSettings), load(ChannelsSettings))
        )
    except AuthenticationError as exc:
        logging.getLogger("services.channels").critical("stopped: provider refused the credentials: %s", exc)
        return 3


if __name__ == "__main__":
    sys.exit(main())
