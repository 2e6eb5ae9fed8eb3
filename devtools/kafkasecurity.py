"""The local broker's secrets: its TLS certificates and the SCRAM passwords of the catalog's principals.

Generated once, when a broker directory is first formatted, and kept only in that directory: a CA (its key
is never written, so nothing else can be signed by it), the broker's certificate for ``127.0.0.1`` and
``localhost``, and ``credentials.json`` (mode 0600) with one random password per principal, which tests,
the demo and ``python -m devtools.localkafka env`` read.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import secrets
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pydantic import BaseModel, ConfigDict, SecretStr

from services.core.settings import CommonSettings

# The broker's own principal for the connections it makes to itself (transaction markers); a super user.
BROKER_PRINCIPAL = "broker"
CERT_DAYS = 825


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


def new_passwords(principals: list[str]) -> dict[str, SecretStr]:
    # URL-safe letters only: they need no quoting in StorageTool's --add-scram or a JAAS line.
    return {name: SecretStr(secrets.token_urlsafe(24)) for name in principals}


def write_private(path: Path, text: str) -> None:
    """Create ``path`` readable by its owner only (0600) before anything secret is written to it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(0o600)


def make_certificates(directory: Path) -> tuple[Path, Path]:
    """A fresh CA and a broker certificate signed by it; returns (CA certificate, broker key and chain)."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "collections local Kafka CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CERT_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    broker = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CERT_DAYS))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, broker_file = directory / "ca.pem", directory / "broker.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    chain = broker.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM)
    write_private(broker_file, (pem + chain).decode())
    return ca_file, broker_file
