"""A single-node Apache Kafka (KRaft) broker for tests and the demo, without Docker.

The broker is assembled from Maven Central (``deploy/kafka/pom.xml``) into ``deploy/kafka/lib`` and run
with the machine's Java 17+. ``LocalKafka`` starts one on free loopback ports in a directory of its own;
``python -m devtools.localkafka start|stop|status`` does the same for the Makefile.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

from devtools.processes import terminate

KAFKA_DIR = Path(__file__).resolve().parents[1] / "deploy" / "kafka"
LIB_DIR = KAFKA_DIR / "lib"


class KafkaRuntimeError(Exception):
    """The local broker could not be assembled or started."""


def ensure_jars() -> None:
    """Copy the broker's jars from Maven Central into ``deploy/kafka/lib`` unless already there."""
    if LIB_DIR.is_dir() and any(LIB_DIR.glob("kafka_2.13-*.jar")):
        return
    java_version()
    if shutil.which("mvn") is None:
        raise KafkaRuntimeError(
            "Maven (mvn) is required to fetch Kafka from Maven Central: apt-get install maven"
        )
    result = subprocess.run(
        ["mvn", "-q", "-B", "-f", str(KAFKA_DIR / "pom.xml"), "dependency:copy-dependencies"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise KafkaRuntimeError(f"mvn could not fetch Kafka:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")


def java_version() -> int:
    """The major version of ``java`` on the PATH; Kafka 4 needs 17 or later."""
    if shutil.which("java") is None:
        raise KafkaRuntimeError("Java 17+ is required to run Kafka: apt-get install openjdk-17-jre-headless")
    out = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)', out)
    major = int(match.group(1)) if match else 0
    if major < 17:
        raise KafkaRuntimeError(f"Java 17+ is required to run Kafka, found: {out.splitlines()[:1]}")
    return major


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalKafka:
    """One broker+controller process with its data in ``workdir``."""

    def __init__(self, workdir: Path, port: int = 0, heap: str = "512m") -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.controller_port = free_port()
        self.heap = heap
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def properties(self) -> Path:
        return self.workdir / "server.properties"

    def start(self, timeout: float = 90.0) -> None:
        ensure_jars()
        java_version()
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not (self.workdir / "data" / "meta.properties").exists():
            self._write_properties()
            cluster_id = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=").replace("-", "_")
            self._java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.properties))
        log = (self.workdir / "kafka.log").open("ab")
        self.process = subprocess.Popen(
            [
                "java",
                f"-Xmx{self.heap}",
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                f"-Dlog4j2.configurationFile={KAFKA_DIR / 'log4j2.yaml'}",
                "-cp",
                f"{LIB_DIR}/*",
                "kafka.Kafka",
                str(self.properties),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        (self.workdir / "kafka.pid").write_text(str(self.process.pid))
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                tail = (self.workdir / "kafka.log").read_text(errors="replace")[-3000:]
                raise KafkaRuntimeError(f"Kafka exited with {self.process.returncode}:\n{tail}")
            if asyncio.run(_metadata_ok(self.bootstrap)):
                return
            time.sleep(0.2)
        raise KafkaRuntimeError(f"Kafka did not answer a metadata request within {timeout:.0f}s")

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (a clean shutdown), SIGKILL if it does not exit in time."""
        if self.process is None or self.process.poll() is not None:
            return
        terminate(self.process, timeout)

    def _write_properties(self) -> None:
        data = self.workdir / "data"
        self.properties.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    "inter.broker.listener.name=PLAINTEXT",
                    f"log.dirs={data}",
                    "auto.create.topics.enable=false",
                    "num.partitions=1",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "transaction.state.log.num.partitions=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "group.consumer.min.session.timeout.ms=1000",
                    "group.classic.min.session.timeout.ms=1000",
                    "log.cleaner.dedupe.buffer.size=2097152",
                    "log.segment.bytes=16777216",
                    "num.network.threads=2",
                    "num.io.threads=2",
                    "message.max.bytes=4194304",
                    "",
                ]
            )
        )

    def _java(self, main: str, *args: str) -> None:
        result = subprocess.run(
            ["java", "-cp", f"{LIB_DIR}/*", main, *args], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise KafkaRuntimeError(f"{main} failed: {result.stdout[-2000:]}{result.stderr[-2000:]}")


async def _metadata_ok(bootstrap: str) -> bool:
    host, port = bootstrap.rsplit(":", 1)
    with socket.socket() as sock:
        sock.settimeout(1.0)
        if sock.connect_ex((host, int(port))) != 0:
            return False
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2000)
    try:
        await admin.start()
        await admin.list_topics()
    except Exception:
        return False
    finally:
        await admin.close()
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.localkafka", description=__doc__)
    parser.add_argument("command", choices=["jars", "start", "stop", "status"])
    parser.add_argument("--dir", type=Path, default=Path("var/kafka"))
    parser.add_argument("--port", type=int, default=9092)
    args = parser.parse_args(argv)
    try:
        if args.command == "jars":
            ensure_jars()
            return 0
        pid_file = args.dir / "kafka.pid"
        running = _running_pid(pid_file)
        if args.command == "status":
            print(f"kafka running (pid {running})" if running else "kafka not running")
            return 0 if running else 1
        if args.command == "stop":
            if running:
                os.kill(running, signal.SIGTERM)
                _wait_gone(running, 30.0)
            pid_file.unlink(missing_ok=True)
            print("kafka stopped")
            return 0
        if running:
            print(f"kafka already running (pid {running}) on 127.0.0.1:{args.port}")
            return 0
        kafka = LocalKafka(args.dir, port=args.port)
        kafka.start()
        print(f"kafka ready on {kafka.bootstrap} (data in {args.dir}, log {args.dir / 'kafka.log'})")
        return 0
    except KafkaRuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _running_pid(pid_file: Path) -> int | None:
    try:
        pid = int(pid_file.read_text())
        os.kill(pid, 0)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        return None
    return pid


def _wait_gone(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
