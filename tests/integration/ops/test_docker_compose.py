"""docker-compose.yml checked without a Docker engine: Debian's docker-compose validates it against the
Compose schema (and must refuse a planted mistake, and name every secret that is not set), and the file is
kept in step with the code: topics, ACLs and users from the shared catalog, each service as its own principal,
environment variables that name real settings and validate as such, the broker configured by the local
runtime's generator, named volumes for the log, restart policies that never loop, metrics ports that
Prometheus scrapes."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import SecretStr
from pydantic_settings import BaseSettings

from devtools import brokerconfig, compose
from devtools.kafkasecurity import BROKER_PRINCIPAL, Credentials
from devtools.localkafka import LocalKafka
from devtools.processes import SETTING_PREFIXES
from services.channels.adapters.smtp_email import INSECURE
from services.channels.settings import ChannelsSettings, SmsSettings, VoiceSettings
from services.core import acls, signing
from services.core.catalog import load_catalog
from services.core.settings import CommonSettings
from services.escalation.settings import EscalationSettings
from services.gatekeeper.settings import GatekeeperSettings
from services.reporting.settings import AuditSettings
from services.sandbox.settings import SandboxSettings
from services.webhooks.settings import WebhooksSettings
from tests.integration.ops.composefile import (
    COMPOSE,
    MESSAGE,
    REQUIRED,
    ROOT,
    compose_file,
    required,
    variables,
)

ENV_EXAMPLE = ROOT / ".env.example"
DOCKER_COMPOSE = shutil.which("docker-compose")
CATALOG = load_catalog()
SETTINGS: tuple[type[BaseSettings], ...] = (
    CommonSettings,
    GatekeeperSettings,
    EscalationSettings,
    ChannelsSettings,
    WebhooksSettings,
    SandboxSettings,
    AuditSettings,
)
# Read straight from the environment rather than through a settings class: the log level
# (services.core.runner), and the Kafka passwords `collections topics apply --users-from-env` and
# `python -m devtools.compose kafka-setup` take.
PLAIN_VARIABLES = {
    "COLLECTIONS_LOG_LEVEL",
    *(
        acls.password_variable(n)
        for n in [CATALOG.access.admin, BROKER_PRINCIPAL, *(p.name for p in CATALOG.principals)]
    ),
}
# What each service of ours reads its settings with (its command's `run_service` classes).
SERVICE_SETTINGS: dict[str, tuple[type[BaseSettings], ...]] = {
    "gatekeeper": (CommonSettings, GatekeeperSettings),
    "escalation": (CommonSettings, EscalationSettings),
    "channels-sms": (CommonSettings, SmsSettings),
    "channels-email": (CommonSettings, ChannelsSettings),
    "channels-voice": (CommonSettings, VoiceSettings),
    "webhooks": (CommonSettings, WebhooksSettings),
    "reporting": (CommonSettings, AuditSettings),
    "sandbox": (SandboxSettings,),
    "topics-init": (CommonSettings,),
}
OUR_IMAGE = "collections-outreach:local"
ONE_SHOTS = {"kafka-setup", "topics-init", "reporting"}

needs_docker_compose = pytest.mark.skipif(
    DOCKER_COMPOSE is None,
    reason="docker-compose is not installed: `make compose-check-tool` (root) or "
    "`apt-get install --no-install-recommends docker-compose` brings it (no Docker engine needed)",
)


def ours(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in document["services"].items() if s.get("image") == OUR_IMAGE}


def write_env(path: Path, values: Mapping[str, str]) -> Path:
    path.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    return path


def config(path: Path, env_file: Path, *, quiet: bool = True) -> subprocess.CompletedProcess[str]:
    """``docker-compose config`` with only ``env_file`` for the secrets (never the developer's .env or
    environment)."""
    assert DOCKER_COMPOSE is not None
    command = [DOCKER_COMPOSE, "--project-directory", str(ROOT), "--env-file", str(env_file), "-f", str(path)]
    environ = {name: value for name, value in os.environ.items() if name not in variables()}
    return subprocess.run(
        [*command, "config", *(["-q"] if quiet else [])],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env=environ,
    )


@pytest.fixture(scope="module")
def secrets_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_env(tmp_path_factory.mktemp("compose") / "generated.env", compose.fresh_env())


@pytest.fixture(scope="module")
def resolved(secrets_env: Path) -> dict[str, Any]:
    """The file as docker-compose resolves it with a generated .env."""
    done = config(COMPOSE, secrets_env, quiet=False)
    assert done.returncode == 0, done.stderr
    return dict(yaml.safe_load(done.stdout))


@needs_docker_compose
def test_the_compose_file_is_valid(secrets_env: Path) -> None:
    done = config(COMPOSE, secrets_env)
    assert done.returncode == 0, done.stderr


@needs_docker_compose
def test_a_planted_mistake_is_refused(tmp_path: Path, secrets_env: Path) -> None:
    text = COMPOSE.read_text()
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace("  gatekeeper:\n", "  gatekeeper:\n    restart_policy: always\n", 1))
    done = config(broken, secrets_env)
    assert done.returncode != 0
    assert "restart_policy" in done.stderr


def strings(node: object) -> list[str]:
    """Every string value in a parsed YAML document (keys too), where docker-compose interpolates."""
    if isinstance(node, dict):
        return [*strings(list(node)), *strings(list(node.values()))]
    if isinstance(node, list):
        return [s for item in node for s in strings(item)]
    return [node] if isinstance(node, str) else []


def test_no_secret_has_a_default() -> None:
    # Every interpolation is a required variable; `$$` is a literal dollar for the container's shell.
    for value in strings(compose_file()):
        text = value.replace("$$", "")
        assert text.count("$") == len(REQUIRED.findall(text)), f"a default, or no message naming it: {value}"
    assert variables() >= {
        "LINK_SIGNING_KEY",
        "TWILIO_AUTH_TOKEN",
        "SANDBOX_ADMIN_TOKEN",
        "GATEKEEPER_SIGNING_KEY",
        "CHANNELS_APPROVAL_KEYS",
        "GRAFANA_ADMIN_PASSWORD",
        *(
            acls.password_variable(n)
            for n in (CATALOG.access.admin, BROKER_PRINCIPAL, *compose.SERVICE_PRINCIPALS)
        ),
    }


@needs_docker_compose
def test_without_its_secrets_compose_names_each_one_missing(tmp_path: Path) -> None:
    generated = compose.fresh_env()
    nothing = config(COMPOSE, write_env(tmp_path / "empty.env", {}))
    assert nothing.returncode != 0 and MESSAGE in nothing.stderr
    for name in sorted(variables()):
        done = config(
            COMPOSE, write_env(tmp_path / f"{name}.env", {k: v for k, v in generated.items() if k != name})
        )
        assert done.returncode != 0, name
        last = done.stderr.strip().splitlines()[-1]
        assert last.endswith(f": {name} {MESSAGE}"), last


def test_the_example_documents_every_secret_and_holds_none() -> None:
    lines = ENV_EXAMPLE.read_text().splitlines()
    example = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert set(example) == variables() == set(compose.fresh_env())
    assert all(value == "" for value in example.values()), "the example holds no value, let alone a secret"
    assert ".env" in (ROOT / ".gitignore").read_text().splitlines()


@needs_docker_compose
def test_a_generated_env_satisfies_every_service(
    resolved: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, service in ours(resolved).items():
        environment = {k: str(v) for k, v in service.get("environment", {}).items()}
        with monkeypatch.context() as patch:
            for variable in [v for v in os.environ if v.startswith((*SETTING_PREFIXES, "AUDIT_"))]:
                patch.delenv(variable)
            for variable, value in environment.items():
                patch.setenv(variable, value)
            for cls in SERVICE_SETTINGS.get(name, ()):
                cls()  # raises, naming the variable, if a generated value does not fit its setting
    gatekeeper = ours(resolved)["gatekeeper"]["environment"]
    public = signing.public_of(SecretStr(gatekeeper["GATEKEEPER_SIGNING_KEY"]))
    for worker in ("channels-sms", "channels-email", "channels-voice"):
        assert ours(resolved)[worker]["environment"]["CHANNELS_APPROVAL_KEYS"] == public, worker
    assert ours(resolved)["reporting"]["environment"]["AUDIT_APPROVAL_KEYS"] == public
    assert set(SERVICE_SETTINGS) == set(ours(resolved)) - {"kafka-setup"}


def test_every_environment_variable_names_a_real_setting() -> None:
    known = set(PLAIN_VARIABLES)
    for cls in SETTINGS:
        prefix = str(cls.model_config.get("env_prefix", "")).upper()
        known.update(f"{prefix}{name.upper()}" for name in cls.model_fields)
    for name, service in ours(compose_file()).items():
        unknown = set(service.get("environment", {})) - known
        assert not unknown, f"{name}: {sorted(unknown)} are not settings of any service"


def test_topics_come_from_the_shared_catalog_before_any_service_starts() -> None:
    document = compose_file()
    services = ours(document)
    setup = services.pop("kafka-setup")
    assert setup["command"][:4] == ["python", "-m", "devtools.compose", "kafka-setup"]
    assert (
        document["services"]["kafka"]["depends_on"]["kafka-setup"]["condition"]
        == "service_completed_successfully"
    )
    init = services.pop("topics-init")
    assert init["command"] == ["python", "-m", "services.core.catalog", "apply", "--users-from-env"]
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert init["environment"]["COLLECTIONS_KAFKA_BOOTSTRAP"] == "kafka:9092"
    for name, service in services.items():
        if name != "sandbox":
            condition = service["depends_on"]["topics-init"]["condition"]
            assert condition == "service_completed_successfully", name
            assert service["environment"]["COLLECTIONS_KAFKA_BOOTSTRAP"] == "kafka:9092", name


def test_every_service_connects_as_its_own_principal_of_the_catalog() -> None:
    document = compose_file()
    principals = {p.name for p in CATALOG.principals}
    users: dict[str, str] = {}
    for name, service in ours(document).items():
        environment = service.get("environment", {})
        if "COLLECTIONS_KAFKA_BOOTSTRAP" not in environment:
            assert not any(k.startswith("COLLECTIONS_KAFKA_") for k in environment), name
            continue
        user = environment["COLLECTIONS_KAFKA_SASL_USERNAME"]
        users[name] = user
        assert environment["COLLECTIONS_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL", name
        variable = acls.password_variable(user)
        assert required(environment["COLLECTIONS_KAFKA_SASL_PASSWORD"]) == variable, name
        ca_file = Path(environment["COLLECTIONS_KAFKA_CA_FILE"])
        assert f"kafka-ca:{ca_file.parent}:ro" in service["volumes"], name
        assert ca_file == compose.Layout().ca_file, name
    assert users.pop("topics-init") == CATALOG.access.admin
    assert len(set(users.values())) == len(users), f"a principal shared by two services: {users}"
    assert set(users.values()) <= principals
    # Each service runs as the principal of its own name.
    assert all(name == user for name, user in users.items()), users
    assert set(users) - ONE_SHOTS == set(compose.SERVICE_PRINCIPALS)
    assert set(compose.SERVICE_PRINCIPALS) | set(compose.HOST_PRINCIPALS) <= principals
    # topics-init sets the password of each of them, and of the principals the host commands run as.
    init = ours(document)["topics-init"]["environment"]
    given = {k for k in init if k.startswith("KAFKA_PASSWORD_")}
    assert given == {
        acls.password_variable(n) for n in (*compose.SERVICE_PRINCIPALS, *compose.HOST_PRINCIPALS)
    }
    for variable in given:
        assert required(init[variable]) == variable


def test_the_broker_runs_the_local_runtimes_security(tmp_path: Path) -> None:
    layout = compose.Layout()
    ours_ = brokerconfig.parse(layout.server_properties("b" * 32))
    local = LocalKafka(tmp_path, port=19092)
    credentials = Credentials(
        bootstrap=local.bootstrap,
        ca_file=tmp_path / "tls" / "ca.pem",
        admin=CATALOG.access.admin,
        passwords={BROKER_PRINCIPAL: SecretStr("b" * 32)},
    )
    theirs = brokerconfig.parse(local.server_properties(credentials))

    def protocols(properties: Mapping[str, str]) -> dict[str, str]:
        return dict(pair.split(":") for pair in properties["listener.security.protocol.map"].split(","))

    for properties in (ours_, theirs):
        listeners = protocols(properties)
        assert listeners.pop("CONTROLLER") == "PLAINTEXT"
        assert set(listeners.values()) == {"SASL_SSL"}
        assert properties["inter.broker.listener.name"] in listeners
        assert re.fullmatch(r"CONTROLLER://127\.0\.0\.1:\d+", properties["listeners"].split(",")[-1])
    for key in (
        "authorizer.class.name",
        "allow.everyone.if.no.acl.found",
        "super.users",
        "sasl.enabled.mechanisms",
        "sasl.mechanism.inter.broker.protocol",
        "auto.create.topics.enable",
    ):
        assert ours_[key] == theirs[key], key
    # Each listener of compose's is configured as the local runtime's only one is.
    local_listener = {k.split(".", 3)[3] for k in theirs if k.startswith("listener.name.client.")}
    for listener in protocols(ours_):
        if listener != "CONTROLLER":
            assert {
                k.split(".", 3)[3] for k in ours_ if k.startswith(f"listener.name.{listener.lower()}.")
            } == local_listener
    assert protocols(ours_) == {"CLIENT": "SASL_SSL", "HOST": "SASL_SSL", "CONTROLLER": "PLAINTEXT"}
    assert ours_["advertised.listeners"] == f"CLIENT://kafka:9092,HOST://{layout.host_bootstrap}"


def test_the_broker_container_formats_once_and_starts_with_the_generated_files() -> None:
    document = compose_file()
    kafka, setup = document["services"]["kafka"], document["services"]["kafka-setup"]
    layout = compose.Layout()
    script = kafka["command"][0]
    assert kafka["entrypoint"] == ["/bin/bash", "-ec"]
    assert "/opt/kafka/bin/kafka-storage.sh format --ignore-formatted" in script
    assert f"config={layout.config_dir}\n" in script
    for user in (CATALOG.access.admin, BROKER_PRINCIPAL):
        variable = acls.password_variable(user)
        assert f'--add-scram "SCRAM-SHA-512=[name={user},password=$${variable}]"' in script
        assert (
            required(kafka["environment"][variable]) == required(setup["environment"][variable]) == variable
        )
    assert script.rstrip().endswith('exec /opt/kafka/bin/kafka-server-start.sh "$$config/server.properties"')
    assert f"127.0.0.1:{layout.host_port}:{layout.host_port}" in kafka["ports"]
    assert f"--command-config {layout.config_dir}/client.properties" in kafka["healthcheck"]["test"][1]
    assert set(kafka["volumes"]) == {
        f"kafka-data:{layout.data_dir}",
        f"kafka-config:{layout.config_dir}:ro",
        f"kafka-ca:{layout.ca_dir}:ro",
    }
    assert set(setup["volumes"]) == {f"kafka-config:{layout.config_dir}", f"kafka-ca:{layout.ca_dir}"}
    # The broker runs as the owner kafka-setup gives its private files to.
    assert setup["command"][-2:] == ["--owner", kafka["user"]]


def test_the_log_and_the_generated_files_are_on_named_volumes() -> None:
    document = compose_file()
    assert {"kafka-data", "kafka-config", "kafka-ca", "sandbox-ca"} <= set(document["volumes"])
    for service in document["services"].values():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            assert source in document["volumes"] or source.startswith("./deploy/"), volume


def test_restart_policies_never_loop_on_bad_settings() -> None:
    document = compose_file()
    for name, service in document["services"].items():
        if name in ONE_SHOTS:
            assert service["restart"] == "no", name
        elif service.get("image") == OUR_IMAGE:
            # Bad settings exit 2, refused provider credentials 3: three tries, then it stays down.
            assert service["restart"] == "on-failure:3", name
        else:
            assert service["restart"] == "unless-stopped", name  # the broker, Prometheus, Grafana
    assert document["services"]["reporting"]["profiles"] == ["tools"]


def test_the_email_worker_speaks_tls_to_the_sandbox_and_checks_its_certificate() -> None:
    services = compose_file()["services"]
    worker, sandbox = services["channels-email"], services["sandbox"]
    environment = worker["environment"]
    assert environment["CHANNELS_SMTP_TLS"] != INSECURE
    assert environment["CHANNELS_SMTP_HOST"] in sandbox["environment"]["SANDBOX_SMTP_TLS_NAMES"].split(",")
    ca_file = Path(environment["CHANNELS_SMTP_CA_FILE"])
    assert sandbox["environment"]["SANDBOX_SMTP_CA_FILE"] == str(ca_file)
    assert f"sandbox-ca:{ca_file.parent}:ro" in worker["volumes"]
    assert f"sandbox-ca:{ca_file.parent}" in sandbox["volumes"]
    assert worker["depends_on"]["sandbox"]["condition"] == "service_healthy"
    assert "2525" in " ".join(sandbox["healthcheck"]["test"])


def test_every_command_is_a_module_of_the_project() -> None:
    for name, service in ours(compose_file()).items():
        python, flag, module, *_ = service["command"]
        assert (python, flag) == ("python", "-m"), name
        spec = importlib.util.find_spec(module)
        assert spec is not None, name
        runnable = spec.submodule_search_locations is None or importlib.util.find_spec(f"{module}.__main__")
        assert runnable, f"{name}: {module} has no __main__"


def test_prometheus_scrapes_each_service_on_its_metrics_port() -> None:
    document = compose_file()
    scrape = yaml.safe_load((ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    targets = {
        job["job_name"]: target
        for job in scrape["scrape_configs"]
        for group in job["static_configs"]
        for target in group["targets"]
        if job["job_name"] != "prometheus"
    }
    exposed = {
        name: f"{name}:{service['environment']['COLLECTIONS_METRICS_PORT']}"
        for name, service in ours(document).items()
        if "COLLECTIONS_METRICS_PORT" in service.get("environment", {})
    }
    assert targets == exposed
    for service in ours(document).values():
        if "COLLECTIONS_METRICS_PORT" in service.get("environment", {}):
            assert service["environment"]["COLLECTIONS_METRICS_HOST"] == "0.0.0.0"
    assert "./deploy/prometheus:/etc/prometheus:ro" in document["services"]["prometheus"]["volumes"]
