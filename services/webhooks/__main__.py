"""Command line of the webhooks service: ``python -m services.webhooks run``."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from services.core.runner import configure_logging
from services.core.settings import CommonSettings, ConfigError, load
from services.core.templates import TemplateError
from services.webhooks.settings import WebhooksSettings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.webhooks")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run the webhooks service (settings: COLLECTIONS_*, WEBHOOKS_*)")
    parser.parse_args(argv)
    configure_logging("webhooks")
    try:
        settings = load(CommonSettings)
        config = load(WebhooksSettings)
        from services.webhooks.app import main as serve

        asyncio.run(serve(settings, config))
    except (ConfigError, TemplateError) as exc:
        print(f"webhooks: refusing to start: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
