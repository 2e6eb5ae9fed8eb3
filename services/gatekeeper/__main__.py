"""Command line of the gatekeeper: ``python -m services.gatekeeper <command>``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import NamedTuple

from services.gatekeeper import decide_cli, run_cli


class Command(NamedTuple):
    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


COMMANDS: dict[str, Command] = {
    "decide": Command(
        "decide contact requests given as JSON lines on stdin (the what-if command)",
        decide_cli.configure,
        decide_cli.run,
    ),
    "run": Command("run the gatekeeper service", run_cli.configure_run, run_cli.run),
    "control": Command("pause or resume outreach (operators)", run_cli.configure_control, run_cli.control),
}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.gatekeeper")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name, command in COMMANDS.items():
        command.configure(subparsers.add_parser(name, help=command.help))
    args = parser.parse_args(argv)
    return COMMANDS[args.command].run(args)


if __name__ == "__main__":
    sys.exit(main())
