"""Channel worker settings (environment variables ``CHANNELS_*``), read once at start-up.

Credentials are ``SecretStr`` and have no defaults: a deployment supplies them; the repository holds none.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.vocab import Channel
from services.channels.adapters.smtp_email import INSECURE, SmtpTls
from services.core.settings import DEPLOY_DIR, HttpUrl, SigningKeys
from services.core.signing import VerifyKeys

Positive = Annotated[float, Field(gt=0)]


class TemplatesSettings(BaseSettings):
    """Where the message templates are: all the template lint needs."""

    model_config = SettingsConfigDict(env_prefix="CHANNELS_", frozen=True, extra="ignore")

    templates: Path = DEPLOY_DIR / "templates"


class ChannelsSettings(TemplatesSettings):
    # Twilio (SMS and voice; required by those workers, see SmsSettings and VoiceSettings).
    twilio_base_url: HttpUrl = "https://api.twilio.com"
    twilio_account_sid: str = ""
    twilio_auth_token: SecretStr | None = None
    sms_from: str = ""
    voice_from: str = ""
    # Public base URL of the webhooks service: status callbacks, the call's answer URL, unsubscribe links.
    webhooks_base_url: HttpUrl
    # Sign the request context in those URLs and the unsubscribe tokens; the first key signs (rotation).
    link_signing_keys: SigningKeys
    # The gatekeeper's public keys in force: an approval that does not verify against one is never sent.
    approval_keys: VerifyKeys
    machine_detection: bool = True

    # SMTP (email). TLS is required: STARTTLS, or implicit TLS (its own port, 465 unless set); only a relay on
    # a private test network (the sandbox) may be spoken to in clear, and then never with credentials.
    smtp_host: str = "127.0.0.1"
    smtp_tls: SmtpTls = "starttls"
    smtp_port: Annotated[int, Field(ge=1, le=65535)] = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    # CA bundle the relay's certificate is verified against (hostname included); the system's by default.
    smtp_ca_file: Path | None = None
    smtp_pool_size: Annotated[int, Field(ge=1, le=64)] = 4
    mail_from: str = "Example Bank <collections@bank.example>"
    archive_bcc: str | None = None
    # The domain whose MX is the webhooks' bounce receiver: every email's envelope sender becomes
    # bounces+<signed request token>@<this domain> (VERP). Empty: the From address, and no bounce comes back.
    bounce_domain: Annotated[str, Field(pattern=r"^([A-Za-z0-9-]+\.)*[A-Za-z0-9-]+$")] | None = None

    # What the worker adds to every template.
    company: str = "Example Bank"
    callback_number: str = "+18005550199"

    # Cost on every SMS outcome: segments x price.
    sms_price_per_segment: Decimal = Decimal("0.0079")
    price_currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "USD"

    # Throughput: token bucket per sender, and sends in flight at once.
    rate_per_second: Positive = 10.0
    rate_burst: Annotated[int, Field(ge=1)] = 10
    max_in_flight: Annotated[int, Field(ge=1, le=1000)] = 16
    max_batch: Annotated[int, Field(ge=1)] = 500

    # Retries and the uncertain-create path.
    create_timeout_seconds: Positive = 15.0
    max_attempts: Annotated[int, Field(ge=1, le=20)] = 5
    backoff_initial_seconds: Positive = 0.5
    backoff_max_seconds: Positive = 30.0
    # After a 5xx or a timeout, wait this long before looking the send up: it may still be landing.
    reconcile_delay_seconds: Annotated[float, Field(ge=0)] = 2.0
    reconcile_attempts: Annotated[int, Field(ge=1)] = 5
    # A request's retries and lookups end within this; a batch must finish within the consumer's poll
    # interval (300 s), or the group hands its partitions to another worker while it is still sending.
    request_budget_seconds: Annotated[float, Field(gt=0, le=240)] = 150.0
    # Ledger entries of finished requests are dropped this long after the approval's valid_until.
    ledger_retention_days: Annotated[int, Field(ge=1)] = 35
    # After the provider refused the credentials, the worker sends nothing more but stays up this long before
    # it exits (3): more than two of Prometheus's 15 s scrapes, so the refusal count reaches the alert.
    refused_linger_seconds: Annotated[float, Field(ge=0, le=600)] = 35.0
    # An SMS or call whose final status callback has not come this long (worker clock) after it was sent is
    # looked up with the provider; one the provider still cannot finish this long after is ``unknown``.
    lost_callback_after_seconds: Annotated[float, Field(gt=0)] = 3600.0
    lost_callback_give_up_seconds: Annotated[float, Field(gt=0)] = 86400.0

    @model_validator(mode="before")
    @classmethod
    def _implicit_tls_port(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("smtp_tls") == "implicit" and data.get("smtp_port") is None:
            return {**data, "smtp_port": 465}
        return data

    @model_validator(mode="after")
    def _no_credentials_in_clear(self) -> ChannelsSettings:
        if self.smtp_tls == INSECURE and self.smtp_password is not None:
            raise ValueError(f"smtp_password is never sent with smtp_tls={INSECURE}")
        return self

    @property
    def claim_lease_seconds(self) -> float:
        """How long after a claim its create may still be in flight; a new owner reconciles only after."""
        return self.create_timeout_seconds + 5.0


class SmsSettings(ChannelsSettings):
    """The SMS worker's settings: Twilio's account and a sender are required."""

    twilio_account_sid: Annotated[str, Field(pattern=r"^AC[0-9a-fA-F]{32}$")]
    twilio_auth_token: SecretStr
    sms_from: Annotated[str, Field(min_length=1)]


class VoiceSettings(ChannelsSettings):
    """The voice worker's settings: Twilio's account and a caller id are required."""

    twilio_account_sid: Annotated[str, Field(pattern=r"^AC[0-9a-fA-F]{32}$")]
    twilio_auth_token: SecretStr
    voice_from: Annotated[str, Field(min_length=1)]


SETTINGS: dict[Channel, type[ChannelsSettings]] = {
    Channel.SMS: SmsSettings,
    Channel.EMAIL: ChannelsSettings,
    Channel.VOICE: VoiceSettings,
}
