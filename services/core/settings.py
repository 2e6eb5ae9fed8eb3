"""Settings every service shares (broker, topic prefix, clock), read once at start-up from the environment.

Each service adds its own ``BaseSettings`` class with its own prefix. ``load`` turns a validation error
into a ``ConfigError`` that names the environment variable or file and the field, so that a bad
deployment fails at start-up with a message an operator can act on.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO_ROOT / "deploy"

S = TypeVar("S", bound=BaseSettings)
M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """Configuration that the service refuses to start with; the message names the file and field."""


def _split_commas(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http:// or https:// URL")
    return value


def _long_enough(value: SecretStr) -> SecretStr:
    # An HMAC key shorter than this is guessable; the message never shows the key.
    if len(value.get_secret_value()) < 16:
        raise ValueError("a signing key must be at least 16 characters")
    return value


def _bootstrap(value: str) -> str:
    # host:port[,host:port...]; the Kafka client would otherwise fail on a bad port with a bare ValueError.
    for server in value.split(","):
        host, _, port = server.strip().rpartition(":") if ":" in server else (server.strip(), "", "9092")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("must be host:port, or several separated by commas")
    return value


def _clock_spec(value: str) -> str:
    # The same two forms as ``services.core.clock.clock_from_spec``, checked when the settings are read.
    if value != "wall" and not value.startswith("file:"):
        raise ValueError("must be 'wall' or 'file:/path/to/clock.json'")
    return value


# Lists given in one environment variable, comma-separated.
CommaList = Annotated[list[str], NoDecode, BeforeValidator(_split_commas)]
Secrets = Annotated[list[SecretStr], NoDecode, BeforeValidator(_split_commas), Field(min_length=1)]
SigningKeys = Annotated[
    list[Annotated[SecretStr, AfterValidator(_long_enough)]],
    NoDecode,
    BeforeValidator(_split_commas),
    Field(min_length=1),
]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class CommonSettings(BaseSettings):
    """Shared by every service; environment variables ``COLLECTIONS_*``.

    Kafka: with ``kafka_security_protocol`` SASL_SSL a client authenticates as ``kafka_sasl_username`` (its
    principal, one per service: deploy/topics.toml) with SCRAM-SHA-512 over TLS, trusting ``kafka_ca_file``
    (PEM; unset: the system's trust store). PLAINTEXT is for a broker without authentication (the local
    runtime's ``--insecure`` development mode). ``services.core.runtime.clients`` turns these into clients.
    """

    model_config = SettingsConfigDict(env_prefix="COLLECTIONS_", frozen=True, extra="ignore")

    kafka_bootstrap: Annotated[str, AfterValidator(_bootstrap)] = "127.0.0.1:9092"
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_SSL"] = "SASL_SSL"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr | None = None
    kafka_ca_file: Path | None = None
    topic_prefix: str = ""
    clock: Annotated[str, AfterValidator(_clock_spec)] = "wall"
    clock_ack_dir: Path | None = None
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    metrics_host: str = "127.0.0.1"
    metrics_port: Annotated[int, Field(ge=0, le=65535)] = 0
    instance: str = ""
    log_level: LogLevel = "INFO"
    # An event whose ce_time is later than now plus this is refused (future_time): clocks drift, forgery too.
    max_clock_skew_seconds: Annotated[float, Field(ge=0)] = 300.0

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def group(self, service: str) -> str:
        return f"{self.topic_prefix}{service}"


def load(cls: type[S], **overrides: object) -> S:
    """Build settings from the environment, failing with a ``ConfigError`` that names every bad variable."""
    try:
        return cls(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(f"invalid settings: {'; '.join(_problems(cls, exc))}") from exc


def load_all(*classes: type[BaseSettings]) -> list[BaseSettings]:
    """Every settings class of a service at once: all missing or invalid variables in one message."""
    loaded: list[BaseSettings] = []
    problems: list[str] = []
    for cls in classes:
        try:
            loaded.append(cls())
        except ValidationError as exc:
            problems.extend(_problems(cls, exc))
    if problems:
        raise ConfigError(f"invalid settings: {'; '.join(problems)}")
    return loaded


def _problems(cls: type[BaseSettings], exc: ValidationError) -> list[str]:
    prefix = str(cls.model_config.get("env_prefix", ""))
    problems = []
    for err in exc.errors():
        # The variable (the field; list items by index), and pydantic's message without the input value.
        field = next((str(p) for p in err["loc"] if isinstance(p, str)), "")
        index = "".join(f"[{p}]" for p in err["loc"] if isinstance(p, int))
        message = "is required" if err["type"] == "missing" else err["msg"]
        problems.append(f"{prefix}{field.upper()}{index} {message}")
    return problems


def load_toml(path: Path, model: type[M]) -> M:
    """Read a TOML data file (policy pack, strategy, catalog) into ``model`` or fail naming file and field."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {format_errors(exc)}") from exc


def format_errors(exc: ValidationError) -> str:
    """``versions[0].caps[1].limit: Input should be greater than 0`` style, one per error."""
    parts = []
    for err in exc.errors():
        location = ""
        for item in err["loc"]:
            location += f"[{item}]" if isinstance(item, int) else (f".{item}" if location else str(item))
        parts.append(f"{location}: {err['msg']}" if location else err["msg"])
    return "; ".join(parts)
