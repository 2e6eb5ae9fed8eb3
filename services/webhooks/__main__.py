"""Command line of the webhooks service: ``python -m services.webhooks run``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from services.core.runner import run_service
from services.core.settings import CommonSettings, load
from services.webhooks.settings import WebhooksSettings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.webhooks")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the webhooks service (settings: COLLECTIONS_*, WEBHOOKS_*)")
    parser.parse_args(argv)
    from services.webhooks.app import main as serve

    return run_service("webhooks", lambda: serve(load(CommonSettings), load(WebhooksSettings)))


if __name__ == "__main__":
    sys.exit(main())
