"""Settings of the provider sandboxes (env prefix ``SANDBOX_``) and the fault vocabulary they share."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class Behaviour(StrEnum):
    """What the Twilio sandbox does with one create request, chosen by destination number or at random."""

    OK = "ok"
    INVALID_NUMBER = "invalid_number"
    OPTED_OUT = "opted_out"
    NOT_SMS_CAPABLE = "not_sms_capable"
    REGION_NOT_ENABLED = "region_not_enabled"
    RATE_LIMITED = "rate_limited"
    ERROR_BEFORE_CREATE = "error_before_create"
    ERROR_AFTER_CREATE = "error_after_create"
    TIMEOUT_BEFORE_CREATE = "timeout_before_create"
    TIMEOUT_AFTER_CREATE = "timeout_after_create"
    SLOW = "slow"
    UNDELIVERED_30003 = "undelivered_30003"
    UNDELIVERED_30005 = "undelivered_30005"
    UNDELIVERED_30006 = "undelivered_30006"
    UNDELIVERED_30007 = "undelivered_30007"
    HUMAN = "human"
    VOICEMAIL = "voicemail"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    CALL_FAILED = "call_failed"


# The faults a random draw picks from: the ones a client must survive without knowing the number.
TRANSIENT_CREATE_FAULTS: tuple[Behaviour, ...] = (
    Behaviour.RATE_LIMITED,
    Behaviour.ERROR_BEFORE_CREATE,
    Behaviour.ERROR_AFTER_CREATE,
    Behaviour.TIMEOUT_BEFORE_CREATE,
    Behaviour.TIMEOUT_AFTER_CREATE,
)


class FaultSpec(BaseModel):
    """A behaviour for one destination number; ``times`` limits it to the first N creates, then ``ok``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    behaviour: Behaviour
    times: PositiveInt | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_name(cls, value: Any) -> Any:
        return {"behaviour": value} if isinstance(value, str) else value


class SmtpFault(BaseModel):
    """An SMTP reply for one recipient, at RCPT or at DATA, or after accepting (``bounce``: a DSN with that
    reply goes to the envelope sender); ``times`` makes it fail N times, then accept."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    code: Annotated[int, Field(ge=400, le=599)]
    stage: Literal["rcpt", "data", "bounce"] = "rcpt"
    times: PositiveInt | None = None
    message: str | None = None


class SandboxSettings(BaseSettings):
    """Where the sandboxes listen, which credentials they accept and how they misbehave."""

    model_config = SettingsConfigDict(env_prefix="SANDBOX_", extra="forbid")

    host: str = "127.0.0.1"
    http_port: Annotated[int, Field(ge=0, le=65535)] = 8790
    smtp_port: Annotated[int, Field(ge=0, le=65535)] = 2525
    account_sid: Annotated[str, Field(pattern=r"^AC[0-9a-f]{32}$")] = "AC" + "0" * 32
    # Several tokens are accepted so that a rotation can be rehearsed; the first one signs webhooks,
    # as Twilio signs with the primary token.
    auth_tokens: Annotated[list[SecretStr], NoDecode, Field(min_length=1)]
    # The bearer token of every /_sandbox/ control endpoint. Not a Twilio token: whoever holds those (the
    # workers, the webhooks) must not be able to inject inbound SMS signed with them, or change faults.
    admin_token: Annotated[SecretStr, Field(min_length=16)]
    inbound_url: str | None = None
    # Loopback only by default: the sandbox must never post callbacks off this machine by accident.
    allowed_callback_hosts: Annotated[list[str], NoDecode] = ["127.0.0.1", "localhost", "::1"]
    callback_delay_ms: Annotated[int, Field(ge=0)] = 50
    callback_timeout_ms: Annotated[int, Field(gt=0)] = 5000
    # A status callback that fails (no connection, a timeout, a 5xx or 429 answer) is sent again, as
    # Twilio does with a connection override: after callback_retry_ms, doubling up to callback_retry_max_ms,
    # at most callback_retries more times. It counts as pending the whole while.
    callback_retries: Annotated[int, Field(ge=0)] = 10
    callback_retry_ms: Annotated[int, Field(ge=0)] = 100
    callback_retry_max_ms: Annotated[int, Field(ge=0)] = 5000
    duplicate_callback_ratio: Annotated[float, Field(ge=0, le=1)] = 0.0
    reorder_callback_ratio: Annotated[float, Field(ge=0, le=1)] = 0.0
    fault_ratio: Annotated[float, Field(ge=0, le=1)] = 0.0
    fault_kinds: Annotated[list[Behaviour], NoDecode] = list(TRANSIENT_CREATE_FAULTS)
    faults: dict[str, FaultSpec] = {}
    slow_response_ms: Annotated[int, Field(ge=0)] = 2000
    timeout_response_ms: Annotated[int, Field(ge=0)] = 30000
    gather_wait_ms: Annotated[int, Field(ge=0)] = 2000
    sms_price_per_segment: Decimal = Decimal("0.0079")
    call_price_per_minute: Decimal = Decimal("0.0140")
    price_unit: str = "USD"
    smtp_faults: dict[str, SmtpFault] = {}
    # Where DSNs of ``bounce`` faults are delivered: the bounce domain's mail server (the webhooks' bounce
    # receiver). None: bounce faults are accepted and nothing comes back, like a server that never bounces.
    smtp_bounce_host: str = "127.0.0.1"
    smtp_bounce_port: Annotated[int, Field(ge=1, le=65535)] | None = None
    # STARTTLS is always offered: with this certificate and key, or with one generated at start for
    # smtp_tls_names, whose CA certificate is written to smtp_ca_file (a temporary file when unset).
    smtp_tls_cert: Path | None = None
    smtp_tls_key: Path | None = None
    smtp_tls_names: Annotated[list[str], NoDecode, Field(min_length=1)] = ["localhost", "127.0.0.1", "::1"]
    smtp_ca_file: Path | None = None
    seed: int = 0
    clock: str = "wall"
    log_level: str = "INFO"

    @field_validator("auth_tokens", "allowed_callback_hosts", "fault_kinds", "smtp_tls_names", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @model_validator(mode="after")
    def _tls_pair(self) -> SandboxSettings:
        if (self.smtp_tls_cert is None) != (self.smtp_tls_key is None):
            raise ValueError("smtp_tls_cert and smtp_tls_key go together")
        return self

    @model_validator(mode="after")
    def _admin_token_of_its_own(self) -> SandboxSettings:
        admin = self.admin_token.get_secret_value()
        if any(admin == token.get_secret_value() for token in self.auth_tokens):
            raise ValueError("admin_token must not be one of the auth_tokens")
        return self
