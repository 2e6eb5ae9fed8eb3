"""The local broker's secrets: its TLS certificates and the SCRAM passwords of the catalog's principals.

Generated once, when a broker directory is first formatted, and kept only in that directory: a CA (its key
is never written, so nothing else can be signed by it), the broker's certificate for ``127.0.0.1`` and
``localhost``, and ``credentials.json`` (mode 0600) with one random password per principal, which tests,
the demo and ``python -m devtools.localkafka env`` read.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import secrets
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, SecretStr

from devtools import certificates
from services.core.settings import CommonSettings

# The broker's own principal for the connections it makes to itself (transaction markers); a super user.
BROKER_PRINCIPAL = "broker"
CERT_DAYS = 825
# The local broker's names; docker-compose's broker adds its host name on the compose network.
LOCAL_NAMES = ("localhost", "127.0.0.1")


class Credentials(BaseModel):
    """What a client needs to reach the local broker as any of its principals (``credentials.json``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    bootstrap: str
    ca_file: Path
    admin: str
    passwords: dict[str, SecretStr]

    def settings(self, principal: str, **overrides: object) -> CommonSettings:
        """``CommonSettings`` of a client that authenticates as ``principal``."""
        return CommonSettings(**(self.fields(principal) | overrides))  # type: ignore[arg-type]

    def fields(self, principal: str) -> dict[str, object]:
        if principal not in self.passwords:
            raise KeyError(f"no principal {principal!r} on this broker: {sorted(self.passwords)}")
        return {
            "kafka_bootstrap": self.bootstrap,
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_username": principal,
            "kafka_sasl_password": self.passwords[principal],
            "kafka_ca_file": self.ca_file,
        }

    def env(self, principal: str) -> dict[str, str]:
        """The ``COLLECTIONS_KAFKA_*`` environment of a service process that runs as ``principal``."""
        return {
            "COLLECTIONS_KAFKA_BOOTSTRAP": self.bootstrap,
            "COLLECTIONS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "COLLECTIONS_KAFKA_SASL_USERNAME": principal,
            "COLLECTIONS_KAFKA_SASL_PASSWORD": self.password(principal),
            "COLLECTIONS_KAFKA_CA_FILE": str(self.ca_file),
        }

    def password(self, principal: str) -> str:
        return self.passwords[principal].get_secret_value()

    def write(self, path: Path) -> None:
        data = self.model_dump(mode="json")
        data["passwords"] = {name: self.password(name) for name in self.passwords}
        write_private(path, json.dumps(data, indent=2) + "\n")

    @classmethod
    def read(cls, path: Path) -> Credentials:
        return cls.model_validate_json(path.read_bytes())


def new_cluster_id() -> str:
    """What ``kafka-storage.sh format -t`` takes: base64url of 16 random bytes, no padding, no '-'."""
    return base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=").replace("-", "_")


def new_passwords(principals: list[str]) -> dict[str, SecretStr]:
    # URL-safe letters only: they need no quoting in StorageTool's --add-scram or a JAAS line.
    return {name: SecretStr(secrets.token_urlsafe(24)) for name in principals}


def write_private(path: Path, text: str) -> None:
    """Create ``path`` readable by its owner only (0600) before anything secret is written to it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(0o600)


def make_certificates(
    directory: Path, names: Sequence[str] = LOCAL_NAMES, ca_directory: Path | None = None
) -> tuple[Path, Path]:
    """A fresh CA and a broker certificate for ``names`` signed by it: ``ca.pem`` (in ``ca_directory``, by
    default ``directory``) and ``broker.pem`` (0600: key and chain) in ``directory``; returns their paths."""
    ca_directory = ca_directory or directory
    for folder in (directory, ca_directory):
        folder.mkdir(parents=True, exist_ok=True)
    ca, broker, key = certificates.generate(names, "collections local Kafka CA", dt.timedelta(days=CERT_DAYS))
    ca_file, broker_file = ca_directory / "ca.pem", directory / "broker.pem"
    ca_file.write_bytes(ca)
    write_private(broker_file, (key + broker + ca).decode())
    return ca_file, broker_file
