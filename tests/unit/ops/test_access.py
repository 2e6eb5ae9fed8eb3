"""Who may write and read what (deploy/topics.toml) against what the code reads and writes, the grants it
becomes, the Kafka tool lines printed for a bank's cluster, and the client settings that carry a principal."""

from __future__ import annotations

import os
import re
import shlex
import ssl
from pathlib import Path

import pytest
from pydantic import SecretStr

from devtools.kafkasecurity import Credentials, make_certificates
from schemas.topics import (
    CONTROL,
    DEADLETTER,
    DISPATCH,
    ESCALATION_STATE,
    GATEKEEPER_STATE,
    SENDER_LEDGER,
)
from services.core import acls
from services.core import catalog as catalog_module
from services.core.catalog import CATALOG_PATH, Catalog, load_catalog, principal_table
from services.core.cli import main as cli_main
from services.core.runtime import clients
from services.core.settings import REPO_ROOT, CommonSettings, ConfigError, load_toml
from services.escalation.service import Escalation
from services.gatekeeper.service import Gatekeeper
from services.reporting.reader import LOG_TOPICS

CATALOG = load_catalog()
CHANNEL_WORKERS = {f"channels-{c.value}": topic for c, topic in DISPATCH.items()}


def writers(topic: str) -> set[str]:
    return set(CATALOG.writers(CATALOG.spec(topic)))


def readers(topic: str) -> set[str]:
    return set(CATALOG.spec(topic).readers)


def groups(principal: str) -> list[str]:
    return next(p.groups for p in CATALOG.principals if p.name == principal)


def test_every_consumer_reads_its_inputs_in_its_own_group() -> None:
    consumers = {
        Gatekeeper.service: (*Gatekeeper.input_topics, CONTROL, GATEKEEPER_STATE),
        Escalation.service: (*Escalation.input_topics, ESCALATION_STATE),
        **{worker: (topic, SENDER_LEDGER) for worker, topic in CHANNEL_WORKERS.items()},
    }
    for service, topics in consumers.items():
        assert groups(service) == [service]  # CommonSettings.group(service), the runtime's group
        for topic in topics:
            assert service in readers(topic), (service, topic)
        assert service in writers(DEADLETTER), service


def test_only_the_gatekeeper_writes_approvals_and_no_dispatch_topic_is_redrivable() -> None:
    for worker, topic in CHANNEL_WORKERS.items():
        spec = CATALOG.spec(topic)
        assert writers(topic) == {"gatekeeper"} and not spec.redrivable
        assert readers(topic) == {worker, "reporting"}


def test_changelogs_belong_to_their_owners_alone() -> None:
    owners = {
        GATEKEEPER_STATE: {"gatekeeper"},
        ESCALATION_STATE: {"escalation"},
        SENDER_LEDGER: set(CHANNEL_WORKERS),
    }
    for topic, owner in owners.items():
        assert writers(topic) == owner == readers(topic), topic


def test_reporting_reads_the_whole_log_and_writes_nothing() -> None:
    for topic in LOG_TOPICS:
        assert "reporting" in readers(topic), topic
    assert all("reporting" not in writers(t.name) for t in CATALOG.topics)


def test_operators_write_controls_and_redrivable_topics_only() -> None:
    written = {t.name for t in CATALOG.topics if "operator" in writers(t.name)}
    assert written == {CONTROL} | {t.name for t in CATALOG.topics if t.redrivable}
    assert readers(DEADLETTER) == {"operator"}
    # The gatekeeper applies the controls; `gatekeeper control list` shows an operator those in force.
    assert readers(CONTROL) == {"gatekeeper", "operator"}


def test_the_webhooks_and_core_banking_write_what_they_publish() -> None:
    # Webhooks: keypad promises (account), reply requests, outcomes, opt-outs; it reads the directory.
    for topic in (
        "collections.account.v1",
        "collections.contact.requests.v1",
        "collections.contact.outcomes.v1",
        "collections.consent.v1",
    ):
        assert "webhooks" in writers(topic), topic
    assert "webhooks" in readers("collections.account.v1")
    core = {t.name for t in CATALOG.topics if "core-banking" in writers(t.name)}
    assert core == {"collections.account.v1"}


def test_grants_name_every_topic_and_group_with_the_prefix() -> None:
    grants = CATALOG.grants("t1.")
    assert grants and all(g.name.startswith("t1.collections.") or g.resource == "group" for g in grants)
    assert {g.name for g in grants if g.resource == "group"} == {
        f"t1.{group}" for p in CATALOG.principals for group in p.groups
    }
    assert all(g.principal != CATALOG.access.admin for g in grants)
    assert len(grants) == len(set(grants))
    assert {(r, n) for r, n in CATALOG.resources("t1.")} >= {(g.resource, g.name) for g in grants}


def test_the_catalog_refuses_a_principal_it_does_not_declare(tmp_path: Path) -> None:
    bad = tmp_path / "topics.toml"
    bad.write_text(CATALOG_PATH.read_text().replace('writers = ["gatekeeper"]', 'writers = ["gatekeper"]', 1))
    with pytest.raises(ConfigError, match=r"collections\.dispatch\.sms\.v1: writers \['gatekeper'\]"):
        load_toml(bad, Catalog)


def test_the_catalog_refuses_any_dispatch_topic_marked_redrivable(tmp_path: Path) -> None:
    text = CATALOG_PATH.read_text()
    for topic in DISPATCH.values():
        start = text.index(f'name = "{topic}"')
        end = text.index("[[topics]]", start)
        section = text[start:end]
        assert "redrivable = false" in section, f"{topic}: the catalog says it is never redrivable"
        bad = tmp_path / "topics.toml"
        bad.write_text(text[:start] + section.replace("redrivable = false", "redrivable = true") + text[end:])
        with pytest.raises(ConfigError, match=rf"{re.escape(topic)}: a dispatch topic is never redrivable"):
            load_toml(bad, Catalog)


def test_the_script_creates_every_user_and_acl_without_a_password() -> None:
    names = [p.name for p in CATALOG.principals]
    lines = acls.script(CATALOG.grants(), names, bootstrap="kafka-1:9093")
    commands = [shlex.split(line) for line in lines if not line.startswith("#")]
    users = [c[c.index("--entity-name") + 1] for c in commands if c[0] == "kafka-configs.sh"]
    assert users == names
    granted = set()
    for command in commands:
        if command[0] != "kafka-acls.sh":
            continue
        principal = command[command.index("--allow-principal") + 1].removeprefix("User:")
        resource = "topic" if "--topic" in command else "group"
        name = command[command.index(f"--{resource}") + 1]
        for index, word in enumerate(command):
            if word == "--operation":
                granted.add((principal, resource, name, command[index + 1].upper()))
        assert command[command.index("--resource-pattern-type") + 1] == "literal"
    assert granted == {(g.principal, g.resource, g.name, g.operation) for g in CATALOG.grants()}
    assert all("${KAFKA_PASSWORD_" in line for line in lines if "kafka-configs.sh" in line)


def test_passwords_from_the_environment_are_named_after_their_principals() -> None:
    environ = {
        "KAFKA_PASSWORD_CHANNELS_SMS": "s-secret",
        "KAFKA_PASSWORD_GATEKEEPER": "g-secret",
        "OTHER": "x",
    }
    found = acls.passwords_from_env(["gatekeeper", "channels-sms", "reporting"], environ)
    assert found == {"gatekeeper": "g-secret", "channels-sms": "s-secret"}
    with pytest.raises(ConfigError, match=r"^KAFKA_PASSWORD_REPORTING: set but empty$") as refused:
        acls.passwords_from_env(["gatekeeper", "reporting"], {**environ, "KAFKA_PASSWORD_REPORTING": ""})
    assert "g-secret" not in str(refused.value)


def apply_users_from_env(monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]) -> list[str]:
    """``collections topics apply --users-from-env`` with ``environ``, the broker calls recorded in order."""
    calls: list[str] = []

    async def apply(settings: CommonSettings, **_: object) -> list[str]:
        calls.append(f"apply as {settings.kafka_sasl_username}")
        return []

    async def upsert_users(settings: CommonSettings, passwords: dict[str, str]) -> None:
        calls.append(f"users {sorted(passwords.items())} as {settings.kafka_sasl_username}")

    for name in [n for n in os.environ if n.startswith(("KAFKA_PASSWORD_", "COLLECTIONS_"))]:
        monkeypatch.delenv(name)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(catalog_module, "apply", apply)
    monkeypatch.setattr(acls, "upsert_users", upsert_users)
    code = cli_main("collections topics", catalog_module.COMMANDS, ["apply", "--users-from-env"])
    return [f"exit {code}", *calls]


ADMIN_ENV = {
    "COLLECTIONS_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "COLLECTIONS_KAFKA_SASL_USERNAME": "admin",
    "COLLECTIONS_KAFKA_SASL_PASSWORD": "a-secret",
}


def test_apply_sets_the_users_whose_passwords_it_is_given_after_the_acls(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    environ = {
        **ADMIN_ENV,
        "KAFKA_PASSWORD_GATEKEEPER": "g-secret",
        "KAFKA_PASSWORD_CHANNELS_EMAIL": "e-secret",
        "KAFKA_PASSWORD_ADMIN": "not-this-one",  # the admin is no principal of the catalog: never reset here
    }
    assert apply_users_from_env(monkeypatch, environ) == [
        "exit 0",
        "apply as admin",
        "users [('channels-email', 'e-secret'), ('gatekeeper', 'g-secret')] as admin",
    ]
    out = capsys.readouterr().out
    assert "SCRAM users set: channels-email, gatekeeper" in out and "secret" not in out


def test_apply_with_users_from_env_refuses_before_touching_the_broker(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert apply_users_from_env(monkeypatch, ADMIN_ENV) == ["exit 2"]
    assert "no KAFKA_PASSWORD_<NAME> is set for any principal" in capsys.readouterr().err
    plaintext = {
        **ADMIN_ENV,
        "COLLECTIONS_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
        "KAFKA_PASSWORD_GATEKEEPER": "g",
    }
    assert apply_users_from_env(monkeypatch, plaintext) == ["exit 2"]
    assert "an authenticated connection" in capsys.readouterr().err
    empty = {**ADMIN_ENV, "KAFKA_PASSWORD_GATEKEEPER": "g", "KAFKA_PASSWORD_WEBHOOKS": ""}
    assert apply_users_from_env(monkeypatch, empty) == ["exit 2"]
    assert "KAFKA_PASSWORD_WEBHOOKS: set but empty" in capsys.readouterr().err


def test_plaintext_connection_is_the_bootstrap_alone() -> None:
    settings = CommonSettings(kafka_bootstrap="b:1", kafka_security_protocol="PLAINTEXT")
    assert clients.connection(settings) == {"bootstrap_servers": "b:1", "security_protocol": "PLAINTEXT"}


def test_sasl_ssl_needs_a_principal_and_trusts_the_ca_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="COLLECTIONS_KAFKA_SASL_USERNAME"):
        clients.connection(CommonSettings(kafka_security_protocol="SASL_SSL"))
    with pytest.raises(ConfigError, match="COLLECTIONS_KAFKA_CA_FILE"):
        clients.connection(
            CommonSettings(
                kafka_security_protocol="SASL_SSL",
                kafka_sasl_username="gatekeeper",
                kafka_sasl_password=SecretStr("pw"),
                kafka_ca_file=tmp_path / "missing.pem",
            )
        )
    ca_file, _ = make_certificates(tmp_path / "tls")
    settings = CommonSettings(
        kafka_bootstrap="127.0.0.1:9093",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_username="gatekeeper",
        kafka_sasl_password=SecretStr("pw"),
        kafka_ca_file=ca_file,
    )
    options = clients.connection(settings)
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("gatekeeper", "pw")
    context = options["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert [c["subject"] for c in context.get_ca_certs()] == [
        ((("commonName", "collections local Kafka CA"),),)
    ]
    config = clients.librdkafka_config(settings, "x")
    assert config["security.protocol"] == "SASL_SSL" and config["ssl.ca.location"] == str(ca_file)
    assert "pw" not in repr(settings)


def test_credentials_are_written_for_the_owner_only(tmp_path: Path) -> None:
    credentials = Credentials(
        bootstrap="127.0.0.1:1",
        ca_file=tmp_path / "ca.pem",
        admin="admin",
        passwords={"admin": SecretStr("a-secret"), "gatekeeper": SecretStr("g-secret")},
    )
    path = tmp_path / "credentials.json"
    credentials.write(path)
    assert path.stat().st_mode & 0o777 == 0o600
    again = Credentials.read(path)
    assert again.password("gatekeeper") == "g-secret"
    assert again.env("gatekeeper")["COLLECTIONS_KAFKA_SASL_USERNAME"] == "gatekeeper"
    settings = again.settings("gatekeeper", topic_prefix="p.")
    assert settings.kafka_sasl_password is not None
    assert settings.kafka_sasl_password.get_secret_value() == "g-secret"
    assert settings.topic_prefix == "p." and settings.kafka_security_protocol == "SASL_SSL"
    with pytest.raises(KeyError, match="mallory"):
        again.settings("mallory")


def test_the_operations_guide_lists_the_principals_as_the_catalog_does() -> None:
    guide = (REPO_ROOT / "docs" / "operations.md").read_text()
    table = principal_table(CATALOG)
    assert "\n".join(table) in guide, "paste `python -m services.core.catalog acls --format markdown`"


def test_kafka_clients_are_built_in_one_place() -> None:
    construct = re.compile(r"\b(AIOKafkaProducer|AIOKafkaConsumer|AIOKafkaAdminClient|AdminClient)\(")
    allowed = {"services/core/runtime/clients.py", "services/core/acls.py"}
    found = {
        str(path.relative_to(REPO_ROOT))
        for folder in ("services", "devtools", "tests")
        for path in (REPO_ROOT / folder).rglob("*.py")
        if construct.search(path.read_text(encoding="utf-8"))
    }
    assert found - allowed == set(), "build Kafka clients with services.core.runtime.clients"
