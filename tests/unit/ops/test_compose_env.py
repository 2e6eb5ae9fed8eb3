"""``python -m devtools.compose``: a fresh .env whose every secret is generated (and never written over an
existing one), the compose broker's files as kafka-setup writes them, and the settings of a host command."""

from __future__ import annotations

import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography import x509
from pydantic import SecretStr

from devtools import brokerconfig, compose
from devtools.kafkasecurity import BROKER_PRINCIPAL
from services.core import signing
from services.core.cli import main
from services.core.settings import ConfigError


def layout(tmp_path: Path) -> compose.Layout:
    return replace(
        compose.Layout(), config_dir=tmp_path / "config", ca_dir=tmp_path / "ca", data_dir=tmp_path / "data"
    )


def test_every_generated_secret_is_fresh_and_fit_for_its_use() -> None:
    first, second = compose.fresh_env(), compose.fresh_env()
    assert set(first) == set(second)
    assert all(first[name] != second[name] for name in first)
    assert len(set(first.values())) == len(first), "two secrets share a value"
    assert signing.public_of(SecretStr(first["GATEKEEPER_SIGNING_KEY"])) == first["CHANNELS_APPROVAL_KEYS"]
    assert len(first["LINK_SIGNING_KEY"]) >= 16 and len(first["SANDBOX_ADMIN_TOKEN"]) >= 16
    # kafka-setup takes the admin's and the broker's (below); every one is as long.
    assert all(len(v) >= 32 for n, v in first.items() if n.startswith("KAFKA_PASSWORD_"))


def test_the_env_file_is_written_for_its_owner_only_and_never_over_another(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / ".env"
    assert main("compose", compose.COMMANDS, ["env", "--output", str(target)]) == 0
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    written = compose.read_env_file(target)
    assert set(written) == set(compose.fresh_env())
    assert main("compose", compose.COMMANDS, ["env", "--output", str(target)]) == 2
    assert "exists" in capsys.readouterr().err
    assert compose.read_env_file(target) == written
    edited = tmp_path / "edited.env"
    edited.write_text("# mine\n\nA='single'\nB=\"double\"\n C = plain \n")
    assert compose.read_env_file(edited) == {"A": "single", "B": "double", "C": "plain"}


def test_kafka_setup_writes_the_broker_files_once_and_its_configuration_every_time(tmp_path: Path) -> None:
    where = layout(tmp_path)
    environ = compose.fresh_env()
    compose.kafka_setup(where, environ, owner=(os.getuid(), os.getgid()))
    ca, cluster_id = where.ca_file.read_bytes(), (where.config_dir / "cluster.id").read_text()
    for private in ("server.properties", "client.properties", "broker.pem"):
        assert stat.S_IMODE((where.config_dir / private).stat().st_mode) == 0o600, private
    certificate = x509.load_pem_x509_certificates(where.keystore.read_bytes())[0]
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert {str(n.value) for n in names} == {"kafka", "localhost", "127.0.0.1"}
    properties = brokerconfig.parse((where.config_dir / "server.properties").read_text())
    assert (
        environ["KAFKA_PASSWORD_BROKER"] in properties["listener.name.client.scram-sha-512.sasl.jaas.config"]
    )
    assert properties["listener.name.host.ssl.truststore.location"] == str(where.ca_file)
    client = brokerconfig.parse((where.config_dir / "client.properties").read_text())
    assert f'username="{BROKER_PRINCIPAL}"' in client["sasl.jaas.config"]

    again = {**environ, "KAFKA_PASSWORD_BROKER": "another-password-0123456789"}
    compose.kafka_setup(where, again)
    assert where.ca_file.read_bytes() == ca, "the CA clients trust is kept"
    assert (where.config_dir / "cluster.id").read_text() == cluster_id
    assert "another-password" in (where.config_dir / "server.properties").read_text()


@pytest.mark.parametrize("password", ["", "short", "has space in it, and a comma]", 'quote"d-password-0123'])
def test_kafka_setup_refuses_a_broker_password_that_would_need_quoting(tmp_path: Path, password: str) -> None:
    environ = {**compose.fresh_env(), "KAFKA_PASSWORD_ADMIN": password}
    with pytest.raises(ConfigError, match=r"^KAFKA_PASSWORD_ADMIN must be at least 16") as refused:
        compose.kafka_setup(layout(tmp_path), environ)
    assert not password or password not in str(refused.value)
    assert not (tmp_path / "config" / "server.properties").exists()


def test_a_host_command_reaches_the_host_listener_as_its_principal(tmp_path: Path) -> None:
    values = compose.fresh_env()
    ca_file = tmp_path / "kafka-ca.pem"
    env = compose.client_env("reporting", values, ca_file, compose.Layout())
    assert env == {
        "COLLECTIONS_KAFKA_BOOTSTRAP": "127.0.0.1:29092",
        "COLLECTIONS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "COLLECTIONS_KAFKA_SASL_USERNAME": "reporting",
        "COLLECTIONS_KAFKA_SASL_PASSWORD": values["KAFKA_PASSWORD_REPORTING"],
        "COLLECTIONS_KAFKA_CA_FILE": str(ca_file),
        "AUDIT_APPROVAL_KEYS": values["CHANNELS_APPROVAL_KEYS"],
    }
    assert "AUDIT_APPROVAL_KEYS" not in compose.client_env("operator", values, ca_file, compose.Layout())
    with pytest.raises(ConfigError, match=r"'admin' has no password in \.env"):
        compose.client_env("admin", values, ca_file, compose.Layout())
    with pytest.raises(ConfigError, match="KAFKA_PASSWORD_CORE_BANKING is not set"):
        compose.client_env("core-banking", {}, ca_file, compose.Layout())
