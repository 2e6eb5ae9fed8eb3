"""Runs the Twilio-compatible HTTP sandbox and the SMTP sandbox together until SIGTERM or SIGINT.

Prints one machine-readable line once both listen: ``SANDBOX_READY http=HOST:PORT smtp=HOST:PORT``, followed
by `` smtp_ca=PATH`` when the SMTP certificate was generated (the CA file an email worker trusts).
"""

from __future__ import annotations

import asyncio
import logging
import signal

from aiohttp import web

from services.core.clock import clock_from_spec
from services.core.runner import listening
from services.core.settings import ConfigError
from services.sandbox.settings import SandboxSettings
from services.sandbox.smtp_server import MailStore, add_mail_routes, start_smtp_server
from services.sandbox.twilio_api import create_twilio_app


async def serve(settings: SandboxSettings) -> None:
    clock = clock_from_spec(settings.clock)
    store = MailStore(clock, settings.smtp_faults)
    app = create_twilio_app(settings, clock)
    add_mail_routes(app, store)
    # No access log: request lines carry phone numbers in their query strings.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.host, settings.http_port)
        await listening(site.start(), settings.host, settings.http_port, "SANDBOX_HOST, SANDBOX_HTTP_PORT")
        smtp = await listening(
            start_smtp_server(settings, store),
            settings.host,
            settings.smtp_port,
            "SANDBOX_HOST, SANDBOX_SMTP_PORT",
        )
    except ConfigError:
        await runner.cleanup()
        raise
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    http_port = runner.addresses[0][1]
    ready = f"SANDBOX_READY http={settings.host}:{http_port} smtp={settings.host}:{smtp.port}"
    print(ready + (f" smtp_ca={smtp.ca_file}" if smtp.ca_file else ""), flush=True)
    try:
        await stop.wait()
    finally:
        smtp.close()
        await runner.cleanup()
    logging.getLogger(__name__).info("sandbox stopped")
