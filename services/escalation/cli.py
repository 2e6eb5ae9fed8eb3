"""Escalation's commands: ``collections escalation run | simulate``."""

from __future__ import annotations

import argparse
from datetime import datetime
from pathlib import Path

from services.core.cli import Command, no_options
from services.core.runner import run_service
from services.core.settings import CommonSettings
from services.escalation import simulate
from services.escalation.settings import EscalationSettings


def run(args: argparse.Namespace) -> int:
    from services.escalation.app import main

    return run_service("escalation", (CommonSettings, EscalationSettings), main)


def configure_simulate(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--strategy", type=Path, help="strategy file (default ESCALATION_STRATEGY)")
    parser.add_argument(
        "--events", type=Path, required=True, help="JSON lines in the publish command's format"
    )
    parser.add_argument("--until", type=datetime.fromisoformat, help="run the schedule up to this instant")


COMMANDS = {
    "run": Command(
        "run the escalation service (settings: COLLECTIONS_*, ESCALATION_* variables)", no_options, run
    ),
    "simulate": Command(
        "what-if: a strategy over an event file, no broker",
        configure_simulate,
        simulate.run,
        description=simulate.__doc__,
    ),
}
