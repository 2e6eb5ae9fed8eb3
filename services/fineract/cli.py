"""The Fineract adapter's commands: ``collections fineract run | translate | bootstrap``."""

from __future__ import annotations

import argparse

from services.core.cli import Command, no_options
from services.core.runner import run_service
from services.core.settings import CommonSettings
from services.fineract import bootstrap, translate_cli
from services.fineract.settings import FineractSettings


def run(args: argparse.Namespace) -> int:
    from services.fineract.app import main

    return run_service("fineract", (CommonSettings, FineractSettings), main)


COMMANDS = {
    "run": Command(
        "run the Fineract adapter (settings: COLLECTIONS_*, FINERACT_ADAPTER_* variables)", no_options, run
    ),
    "translate": Command(
        "what the adapter does with Fineract records given as JSON lines on stdin (no broker)",
        translate_cli.configure,
        translate_cli.run,
        description=translate_cli.__doc__,
    ),
    "bootstrap": Command(
        "seed the adapter's loans from Fineract's GET /v1/loans listing",
        bootstrap.configure,
        bootstrap.run,
        description=bootstrap.__doc__,
    ),
}
