"""The webhooks service's command: ``collections webhooks run``."""

from __future__ import annotations

import argparse

from services.core.cli import Command, no_options
from services.core.runner import run_service
from services.core.settings import CommonSettings
from services.webhooks.settings import WebhooksSettings


def run(args: argparse.Namespace) -> int:
    from services.webhooks.app import main as serve

    return run_service("webhooks", (CommonSettings, WebhooksSettings), serve)


COMMANDS = {"run": Command("run the webhooks service (settings: COLLECTIONS_*, WEBHOOKS_*)", no_options, run)}
