"""Settings every service shares (broker, topic prefix, clock), read once at start-up from the environment.

Each service adds its own ``BaseSettings`` class with its own prefix. ``load`` turns a validation error
into a ``ConfigError`` that names the environment variable or file and the field, so that a bad
deployment fails at start-up with a message an operator can act on.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import BaseModel, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO_ROOT / "deploy"

S = TypeVar("S", bound=BaseSettings)
M = TypeVar("M", bound=BaseModel)


class ConfigError(Exception):
    """Configuration that the service refuses to start with; the message names the file and field."""


class CommonSettings(BaseSettings):
    """Shared by every service; environment variables ``COLLECTIONS_*``.

    Kafka: with ``kafka_security_protocol`` SASL_SSL a client authenticates as ``kafka_sasl_username`` (its
    principal, one per service: deploy/topics.toml) with SCRAM-SHA-512 over TLS, trusting ``kafka_ca_file``
    (PEM; unset: the system's trust store). PLAINTEXT is for a broker without authentication (the local
    runtime's ``--insecure`` development mode). ``services.core.runtime.clients`` turns these into clients.
    """

    model_config = SettingsConfigDict(env_prefix="COLLECTIONS_", frozen=True, extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_username: str = ""
    kafka_sasl_password: SecretStr | None = None
    kafka_ca_file: Path | None = None
    topic_prefix: str = ""
    clock: str = "wall"
    clock_ack_dir: Path | None = None
    session_timeout_ms: int = 10_000
    heartbeat_interval_ms: int = 3_000
    metrics_host: str = "127.0.0.1"
    metrics_port: int = 0
    instance: str = ""

    def topic(self, name: str) -> str:
        return f"{self.topic_prefix}{name}"

    def group(self, service: str) -> str:
        return f"{self.topic_prefix}{service}"


def load(cls: type[S], **overrides: object) -> S:
    """Build settings from the environment, failing with a ``ConfigError`` that names the variable."""
    try:
        return cls(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        prefix = str(cls.model_config.get("env_prefix", ""))
        problems = "; ".join(
            f"{prefix}{'_'.join(str(p) for p in err['loc']).upper()}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid environment for {cls.__name__}: {problems}") from exc


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
        parts.append(f"{location or '<root>'}: {err['msg']}")
    return "; ".join(parts)
