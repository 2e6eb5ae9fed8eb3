"""Webhooks settings (environment variables ``WEBHOOKS_*``), read once at start; secrets have no default."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.core.settings import DEPLOY_DIR, HttpUrl, Secrets, SigningKeys


class WebhooksSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WEBHOOKS_", frozen=True, extra="ignore")

    host: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 8080
    # The URL Twilio calls, as configured with Twilio (behind any proxy): signatures are computed over it.
    public_base_url: HttpUrl
    # Comma-separated, at most two: during a rotation Twilio may sign with either.
    twilio_auth_tokens: Annotated[Secrets, Field(max_length=2)]
    # The channel workers' link signing keys: the first signs, all verify.
    link_signing_keys: SigningKeys
    max_body_bytes: Annotated[int, Field(ge=1024)] = 64 * 1024
    templates: Path = DEPLOY_DIR / "templates"
    # One keyword file per language (<language>.toml): the opt-out, opt-in and help words of inbound SMS.
    optout_keywords: Path = DEPLOY_DIR / "optout"

    # The bounce receiver (SMTP) the bank's bounce domain points its MX at; off unless both are set. The
    # domain is the channel workers' CHANNELS_BOUNCE_DOMAIN.
    bounce_port: Annotated[int, Field(ge=0, le=65535)] | None = None
    bounce_domain: Annotated[str, Field(pattern=r"^([A-Za-z0-9-]+\.)*[A-Za-z0-9-]+$")] | None = None

    # Voice menu.
    agent_number: str = ""
    gather_timeout_seconds: Annotated[int, Field(ge=1, le=60)] = 6
    promise_days: Annotated[int, Field(ge=0, le=60)] = 7
    call_price_per_minute: Decimal = Decimal("0.0140")
    price_currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"
    # Replies requested here (payment link, help) may be sent within this many hours.
    reply_valid_hours: Annotated[int, Field(ge=1)] = 24
    # How long an inbound SMS waits for the debtor directory to read what was published before it.
    directory_wait_seconds: Annotated[float, Field(ge=0)] = 2.0

    @model_validator(mode="after")
    def _bounces_whole(self) -> WebhooksSettings:
        if (self.bounce_port is None) != (self.bounce_domain is None):
            raise ValueError("bounce_port and bounce_domain go together")
        return self
