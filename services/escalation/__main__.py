"""Command line of escalation: ``python -m services.escalation run|simulate``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from services.core.runner import run_service
from services.core.settings import CommonSettings, load
from services.escalation import simulate
from services.escalation.settings import EscalationSettings


def _run(args: argparse.Namespace) -> int:
    from services.escalation.app import main

    return run_service("escalation", lambda: main(load(CommonSettings), load(EscalationSettings)))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.escalation")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the escalation service (COLLECTIONS_*, ESCALATION_* variables)")
    simulate.configure(
        commands.add_parser("simulate", help="what-if: a strategy over an event file, no broker")
    )
    args = parser.parse_args(argv)
    return _run(args) if args.command == "run" else simulate.run(args)


if __name__ == "__main__":
    sys.exit(main())
