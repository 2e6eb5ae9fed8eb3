"""Builds a channel worker from settings: the provider adapter for the channel, the templates (linted, or
the worker refuses to start), the link signer, metrics; and runs it with /metrics and /healthz."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable

from prometheus_client import CollectorRegistry

from schemas.vocab import Channel
from services.channels.adapters.smtp_email import INSECURE, SmtpEmail
from services.channels.adapters.twilio_rest import TwilioRest
from services.channels.adapters.twilio_sms import TwilioSms
from services.channels.adapters.twilio_voice import TwilioVoice
from services.channels.drivers import Driver, EmailDriver, SmsDriver, VoiceDriver
from services.channels.errors import AuthenticationError
from services.channels.metrics import ChannelMetrics
from services.channels.settings import ChannelsSettings
from services.channels.worker import ChannelWorker
from services.core.clock import Clock, clock_from_spec
from services.core.metrics import PipelineMetrics
from services.core.runner import serve
from services.core.runtime.connector import Connector
from services.core.runtime.loop import Runtime
from services.core.settings import CommonSettings, ConfigError
from services.messaging.links import LinkSigner
from services.messaging.templates import TemplateBook

log = logging.getLogger(__name__)


def build_driver(channel: Channel, config: ChannelsSettings, templates: TemplateBook) -> Driver:
    """The real adapter for ``channel``."""
    links = LinkSigner(config.link_signing_keys)
    if channel is Channel.EMAIL:
        if config.smtp_tls == INSECURE:
            log.warning("SMTP in clear (CHANNELS_SMTP_TLS=%s): only for a relay on a test network", INSECURE)
        smtp = SmtpEmail(
            config.smtp_host,
            config.smtp_port,
            pool_size=config.smtp_pool_size,
            timeout=config.create_timeout_seconds,
            tls=config.smtp_tls,
            username=config.smtp_username,
            password=config.smtp_password,
            ca_file=config.smtp_ca_file,
        )
        return EmailDriver(smtp, templates, links, config)
    if config.twilio_auth_token is None:  # SmsSettings and VoiceSettings require it
        raise ConfigError(f"the {channel.value} worker needs CHANNELS_TWILIO_AUTH_TOKEN")
    rest = TwilioRest(
        config.twilio_base_url,
        config.twilio_account_sid,
        config.twilio_auth_token,
        timeout=config.create_timeout_seconds,
        max_connections=config.max_in_flight,
    )
    if channel is Channel.SMS:
        return SmsDriver(TwilioSms(rest), templates, links, config)
    return VoiceDriver(TwilioVoice(rest), templates, links, config)


class ChannelApp:
    """One channel's worker with its registry, so tests can run it in-process against the real broker."""

    def __init__(
        self,
        channel: Channel,
        settings: CommonSettings,
        config: ChannelsSettings,
        clock: Clock | None = None,
        registry: CollectorRegistry | None = None,
        driver: Driver | None = None,
        connector: Connector | None = None,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        templates = TemplateBook.load(config.templates)  # refuses bad templates, naming each file
        self.metrics = ChannelMetrics(self.registry)
        clock = clock or clock_from_spec(settings.clock)
        self.worker = ChannelWorker(
            driver or build_driver(channel, config, templates), config, clock, self.metrics
        )
        self.runtime = Runtime(
            self.worker,
            settings,
            clock,
            PipelineMetrics(self.registry, self.worker.service),
            connector=connector,
            source=f"/collections/channels/{channel.value}",
            max_records=self.worker.max_records,
            tick_seconds=0.1,
        )

    @property
    def healthy(self) -> bool:
        return self.runtime.healthy

    async def run(self) -> None:
        await self.runtime.run()

    def stop(self) -> None:
        self.runtime.stop()


async def main(channel: Channel, settings: CommonSettings, config: ChannelsSettings) -> None:
    app = ChannelApp(channel, settings, config)
    stopping = asyncio.Event()

    def stop() -> None:
        stopping.set()
        app.stop()

    worker = linger_on_refusal(app.run(), stopping, config.refused_linger_seconds)
    await serve(settings, app.registry, lambda: app.healthy, worker, stop)


async def linger_on_refusal(run: Awaitable[None], stopping: asyncio.Event, seconds: float) -> None:
    """Run the worker; if the provider refused the credentials, wait ``seconds`` (or until ``stopping``)
    before letting the refusal end the process. /metrics is served meanwhile: a process gone at once would
    take its refusal count with it before Prometheus scraped it, and CollectionsProviderAuthFailures could
    never fire."""
    try:
        await run
    except AuthenticationError:
        log.info("staying up %.0f s so that the refusal is scraped (SIGTERM ends the wait)", seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), seconds)
        raise
