"""docker-compose.yml checked without a Docker engine: Debian's docker-compose validates it against the
Compose schema (and must refuse a planted mistake), and the file is kept in step with the code: topics from
the shared catalog, environment variables that name real settings, metrics ports that Prometheus scrapes."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from services.channels.settings import ChannelsSettings
from services.core.settings import CommonSettings
from services.escalation.settings import EscalationSettings
from services.gatekeeper.settings import GatekeeperSettings
from services.sandbox.settings import SandboxSettings
from services.webhooks.settings import WebhooksSettings

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "docker-compose.yml"
DOCKER_COMPOSE = shutil.which("docker-compose")
SETTINGS: tuple[type[BaseSettings], ...] = (
    CommonSettings,
    GatekeeperSettings,
    EscalationSettings,
    ChannelsSettings,
    WebhooksSettings,
    SandboxSettings,
)
# Read straight from the environment rather than through a settings class (services.core.runner).
PLAIN_VARIABLES = {"COLLECTIONS_LOG_LEVEL"}
OUR_IMAGE = "collections-outreach:local"

needs_docker_compose = pytest.mark.skipif(
    DOCKER_COMPOSE is None,
    reason="docker-compose is not installed: `make compose-check-tool` (root) or "
    "`apt-get install --no-install-recommends docker-compose` brings it (no Docker engine needed)",
)


def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE.read_text()))


def ours(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: s for name, s in document["services"].items() if s.get("image") == OUR_IMAGE}


def config(path: Path) -> subprocess.CompletedProcess[str]:
    assert DOCKER_COMPOSE is not None
    return subprocess.run(
        [DOCKER_COMPOSE, "--project-directory", str(ROOT), "-f", str(path), "config", "-q"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
    )


@needs_docker_compose
def test_the_compose_file_is_valid() -> None:
    done = config(COMPOSE)
    assert done.returncode == 0, done.stderr


@needs_docker_compose
def test_a_planted_mistake_is_refused(tmp_path: Path) -> None:
    text = COMPOSE.read_text()
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace("  gatekeeper:\n", "  gatekeeper:\n    restart_policy: always\n", 1))
    done = config(broken)
    assert done.returncode != 0
    assert "restart_policy" in done.stderr


def test_every_environment_variable_names_a_real_setting() -> None:
    known = set(PLAIN_VARIABLES)
    for cls in SETTINGS:
        prefix = str(cls.model_config.get("env_prefix", "")).upper()
        known.update(f"{prefix}{name.upper()}" for name in cls.model_fields)
    for name, service in ours(compose()).items():
        unknown = set(service.get("environment", {})) - known
        assert not unknown, f"{name}: {sorted(unknown)} are not settings of any service"


def test_topics_come_from_the_shared_catalog_before_any_service_starts() -> None:
    document = compose()
    services = ours(document)
    init = services.pop("topics-init")
    assert init["command"] == ["python", "-m", "services.core.catalog", "apply"]
    assert init["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert init["environment"]["COLLECTIONS_KAFKA_BOOTSTRAP"] == "kafka:9092"
    for name, service in services.items():
        if name != "sandbox":
            condition = service["depends_on"]["topics-init"]["condition"]
            assert condition == "service_completed_successfully", name
            assert service["environment"]["COLLECTIONS_KAFKA_BOOTSTRAP"] == "kafka:9092", name


def test_every_command_is_a_module_of_the_project() -> None:
    for name, service in ours(compose()).items():
        python, flag, module, *_ = service["command"]
        assert (python, flag) == ("python", "-m"), name
        spec = importlib.util.find_spec(module)
        assert spec is not None, name
        runnable = spec.submodule_search_locations is None or importlib.util.find_spec(f"{module}.__main__")
        assert runnable, f"{name}: {module} has no __main__"


def test_prometheus_scrapes_each_service_on_its_metrics_port() -> None:
    document = compose()
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
