"""``collections sandbox``: the Twilio-compatible HTTP and the SMTP sandboxes, until SIGTERM or SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import logging

from services.core.cli import Command, no_options
from services.core.settings import load
from services.sandbox.settings import SandboxSettings


def run(args: argparse.Namespace) -> int:
    from services.sandbox.server import serve

    settings = load(SandboxSettings)
    logging.basicConfig(level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    asyncio.run(serve(settings))
    return 0


SANDBOX = Command(
    "run the provider sandboxes (Twilio-compatible HTTP and SMTP; settings: SANDBOX_*)", no_options, run
)
