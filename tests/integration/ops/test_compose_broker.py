"""The compose broker run without Docker: kafka-setup's files and the kafka container's own command and
healthcheck, taken from docker-compose.yml (with stand-ins for Kafka's scripts that run the same Kafka release
from deploy/kafka/lib), on loopback; then topics-init's command with its environment from the file, and
clients of the services' principals on the client listener and of the reports' on the host listener. What an
engine would run, short of the images, the compose network and its host names."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from aiokafka.errors import KafkaError, TopicAuthorizationFailedError
from pydantic import SecretStr

from devtools import compose
from devtools.localkafka import KAFKA_DIR, LIB_DIR, ensure_jars, free_port, metadata_ok
from devtools.processes import terminate
from schemas.topics import ACCOUNT, DECISIONS
from services.core import acls
from services.core.catalog import load_catalog
from services.core.runtime import clients
from services.core.settings import REPO_ROOT, CommonSettings
from tests.integration.ops.composefile import compose_file, interpolate

CATALOG = load_catalog()
# What the kafka container's /opt/kafka/bin scripts do, with the jars the local runtime runs.
STAND_INS = {
    "kafka-storage.sh": "kafka.tools.StorageTool",
    "kafka-server-start.sh": "kafka.Kafka",
    "kafka-broker-api-versions.sh": "org.apache.kafka.tools.BrokerApiVersionsCommand",
}


@dataclass
class ComposeBroker:
    layout: compose.Layout
    secrets: dict[str, str]
    bin_dir: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def container(self, text: str) -> str:
        """A command of the kafka container, its paths those of this directory."""
        default = compose.Layout()
        for container_path, here in (
            ("/opt/kafka/bin", self.bin_dir),
            (str(default.config_dir), self.layout.config_dir),
            (str(default.ca_dir), self.layout.ca_dir),
        ):
            text = text.replace(container_path, str(here))
        return text

    def environment(self, service: str) -> dict[str, str]:
        raw = compose_file()["services"][service].get("environment", {})
        return {name: interpolate(str(value), self.secrets) for name, value in raw.items()}

    def start(self) -> None:
        script = self.container(compose_file()["services"]["kafka"]["command"][0].replace("$$", "$"))
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                ["/bin/bash", "-ec", script],
                env={"PATH": os.environ["PATH"], **self.environment("kafka")},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 120
        while not asyncio.run(metadata_ok(self.settings("admin"))):
            if self.process.poll() is not None:
                raise AssertionError(
                    f"the broker exited {self.process.returncode}:\n{self.log.read_text()[-3000:]}"
                )
            assert time.monotonic() < deadline, self.log.read_text()[-3000:]
            time.sleep(0.3)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            terminate(self.process, 30)

    def settings(
        self, principal: str, *, host_listener: bool = False, password: str | None = None
    ) -> CommonSettings:
        layout = self.layout
        bootstrap = layout.host_bootstrap if host_listener else f"{layout.host}:{layout.client_port}"
        variable = acls.password_variable(principal)
        return CommonSettings(
            kafka_bootstrap=bootstrap,
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_username=principal,
            kafka_sasl_password=SecretStr(password or self.secrets[variable]),
            kafka_ca_file=layout.ca_file,
        )


def stand_ins(directory: Path) -> Path:
    directory.mkdir()
    for script, main in STAND_INS.items():
        path = directory / script
        path.write_text(
            "#!/bin/sh\n"
            f"exec java -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 "
            f'-Dlog4j2.configurationFile={KAFKA_DIR / "log4j2.yaml"} -cp "{LIB_DIR}/*" {main} "$@"\n'
        )
        path.chmod(0o755)
    return directory


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ComposeBroker]:
    ensure_jars()
    here = tmp_path_factory.mktemp("compose-broker")
    # The compose layout on loopback: `localhost` for `kafka`, free ports for 9092, 29092 and 9093.
    layout = replace(
        compose.Layout(),
        host="localhost",
        bind="127.0.0.1",
        client_port=free_port(),
        host_port=free_port(),
        controller_port=free_port(),
        config_dir=here / "config",
        ca_dir=here / "ca",
        data_dir=here / "data",
    )
    secrets = compose.fresh_env()
    compose.kafka_setup(layout, secrets)
    running = ComposeBroker(layout, secrets, stand_ins(here / "bin"), here / "kafka.log")
    try:
        running.start()
        yield running
    finally:
        running.stop()


def topics_init(broker: ComposeBroker) -> subprocess.CompletedProcess[str]:
    service = compose_file()["services"]["topics-init"]
    environment = broker.environment("topics-init") | {
        "COLLECTIONS_KAFKA_BOOTSTRAP": f"{broker.layout.host}:{broker.layout.client_port}",
        "COLLECTIONS_KAFKA_CA_FILE": str(broker.layout.ca_file),
    }
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("COLLECTIONS_", "KAFKA_PASSWORD_"))}
    return subprocess.run(
        [sys.executable, *service["command"][1:]],
        env=inherited | environment,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


async def can_write(settings: CommonSettings, topic: str) -> bool:
    producer = clients.producer(settings, "compose-broker-test")
    await producer.start()
    try:
        await asyncio.wait_for(await producer.send(topic, b"probe", key=b"k"), 30)
    except TopicAuthorizationFailedError:
        return False
    finally:
        await producer.stop()
    return True


async def visible_topics(settings: CommonSettings) -> set[str]:
    admin = clients.admin(settings, "compose-broker-test")
    await admin.start()
    try:
        return set(await admin.list_topics())
    finally:
        await admin.close()


def test_the_compose_broker_serves_the_catalog_to_each_principal_and_keeps_its_log(
    broker: ComposeBroker,
) -> None:
    healthcheck = broker.container(compose_file()["services"]["kafka"]["healthcheck"]["test"][1])
    healthcheck = healthcheck.replace("kafka:9092", f"localhost:{broker.layout.client_port}")
    assert subprocess.run(["/bin/sh", "-c", healthcheck], check=False, timeout=120).returncode == 0

    done = topics_init(broker)
    assert done.returncode == 0, done.stderr
    assert (
        "SCRAM users set: " + ", ".join(sorted((*compose.SERVICE_PRINCIPALS, *compose.HOST_PRINCIPALS)))
        in done.stdout
    )
    assert broker.secrets["KAFKA_PASSWORD_GATEKEEPER"] not in done.stdout + done.stderr

    # Each service as its own principal on the client listener, allowed what the catalog grants only.
    assert asyncio.run(can_write(broker.settings("gatekeeper"), DECISIONS))
    assert not asyncio.run(can_write(broker.settings("channels-sms"), DECISIONS))
    assert not asyncio.run(can_write(broker.settings("gatekeeper"), ACCOUNT))
    # The reports from the host, on the host listener: read-only, every log topic visible.
    reporting = broker.settings("reporting", host_listener=True)
    assert {t.name for t in CATALOG.topics if "reporting" in t.readers} <= asyncio.run(
        visible_topics(reporting)
    )
    with pytest.raises(KafkaError):
        asyncio.run(
            visible_topics(broker.settings("reporting", host_listener=True, password="not-the-password"))
        )

    # Down and up again: formatted already (--ignore-formatted), the log and the users are still there.
    broker.stop()
    broker.start()
    assert "already formatted" in broker.log.read_text()
    assert {t.name for t in CATALOG.topics} <= asyncio.run(visible_topics(broker.settings("admin")))
    assert asyncio.run(can_write(broker.settings("gatekeeper"), DECISIONS))
    again = topics_init(broker)
    assert again.returncode == 0, again.stderr
    assert "0 created" in again.stdout
