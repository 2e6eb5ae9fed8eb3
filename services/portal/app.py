"""Builds and runs the portal: the read model fed from Kafka, the producer, the pages on the public port,
and /metrics and /healthz on the internal one."""

from __future__ import annotations

import asyncio
import base64
import logging

import aiohttp_jinja2
import jinja2
from aiohttp import web
from aiohttp_session import setup as setup_sessions
from aiohttp_session.cookie_storage import EncryptedCookieStorage
from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from services.core.clock import Clock, clock_from_spec
from services.core.metrics import PipelineMetrics
from services.core.runner import listening, serve
from services.core.runtime.connector import Connector, KafkaConnector
from services.core.runtime.publisher import Publisher
from services.core.runtime.reader import TopicReader
from services.core.settings import CommonSettings
from services.portal.book import Book
from services.portal.follow import Follower
from services.portal.i18n import Locales
from services.portal.metrics import PortalMetrics
from services.portal.pages import Portal, secure_headers
from services.portal.settings import PortalSettings

log = logging.getLogger(__name__)
# aiohttp's request handler logs through this one: a request it cannot parse, or an error in a page, with an
# exception whose text may quote the request (the link token in the query string, a form's answer).
server_log = logging.getLogger("services.portal.server")
SOURCE = "/collections/portal"
TEMPLATES = __file__.rsplit("/", 1)[0] + "/templates"
SESSION_COOKIE = "portal_session"


class _OnlyTheClass(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if exc is not None:
            record.msg, record.args = "request failed: %s", (type(exc).__name__,)
            record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


server_log.addFilter(_OnlyTheClass())


class PortalApp:
    """The whole service in one object, so tests can run it in-process against the real broker."""

    def __init__(
        self,
        settings: CommonSettings,
        config: PortalSettings,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
        connector: Connector | None = None,
    ) -> None:
        self.settings = settings
        self.config = config
        self.clock = clock or clock_from_spec(settings.clock)
        self.registry = registry or CollectorRegistry()
        self.metrics = PortalMetrics(self.registry)
        self.pipeline = PipelineMetrics(self.registry, "portal")
        connector = connector or KafkaConnector(settings)
        self.publisher = Publisher(connector.producer("portal"), settings, "portal", SOURCE, self.pipeline)
        self.book = Book()
        self.follower = Follower(
            TopicReader(connector.consumer(None, "portal-book")), settings, self.book, self.pipeline
        )
        self.portal = Portal(
            config,
            self.book,
            self.publish,
            self.clock,
            self.metrics,
            Locales.load(languages=config.languages),
        )
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._follow: asyncio.Task[None] | None = None
        self._stopped = asyncio.Event()

    @property
    def healthy(self) -> bool:
        return self._runner is not None and self._follow is not None and not self._follow.done()

    def web_app(self) -> web.Application:
        app = web.Application(client_max_size=self.config.max_body_bytes)
        key = base64.urlsafe_b64decode(self.config.session_key.get_secret_value().encode())
        storage = EncryptedCookieStorage(
            key,
            cookie_name=SESSION_COOKIE,
            max_age=self.config.session_minutes * 60,
            secure=True,
            httponly=True,
            samesite="Strict",
            path="/",
        )
        setup_sessions(app, storage)
        aiohttp_jinja2.setup(
            app,
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        app.add_routes(self.portal.routes())
        app.on_response_prepare.append(secure_headers)
        return app

    async def start(self) -> None:
        await self.publisher.start()
        await self.follower.start()
        self._follow = asyncio.create_task(self.follower.follow())
        # Request logs would carry the link token (query string): none are written.
        self._runner = web.AppRunner(self.web_app(), access_log=None, logger=server_log, shutdown_timeout=5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await listening(site.start(), self.config.host, self.config.port, "PORTAL_HOST, PORTAL_PORT")
        self.port = int(self._runner.addresses[0][1])
        log.info("portal listening on %s:%d", self.config.host, self.port)

    async def stop(self) -> None:
        # Forms in hand finish (their events acknowledged) before the producer closes.
        if self._runner is not None:
            await self._runner.cleanup()
        if self._follow is not None:
            self._follow.cancel()
        await self.follower.stop()
        await asyncio.gather(*[t for t in (self._follow,) if t is not None], return_exceptions=True)
        await self.publisher.stop()

    async def publish(self, events: list[tuple[BaseModel, str]]) -> None:
        """An action's events, with the clock's time; returns once the broker acknowledged them."""
        at = self.clock.now()
        await self.publisher.publish(events, at)

    async def run(self) -> None:
        try:
            # A start that fails half-way (no broker, the port taken) closes what it opened, in stop.
            await self.start()
            print(f"PORTAL_READY http://{self.config.host}:{self.port}", flush=True)
            await self._stopped.wait()
        finally:
            await self.stop()

    def request_stop(self) -> None:
        self._stopped.set()


async def main(settings: CommonSettings, config: PortalSettings) -> None:
    app = PortalApp(settings, config)
    await serve(settings, app.registry, lambda: app.healthy, app.run(), app.request_stop)
