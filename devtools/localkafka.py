"""A single-node Apache Kafka (KRaft) broker for tests and the demo, without Docker.

The broker is assembled from Maven Central (``deploy/kafka/pom.xml``) into ``deploy/kafka/lib`` and run
with the machine's Java 17+. ``LocalKafka`` starts one on free loopback ports in a directory of its own;
``python -m devtools.localkafka start|stop|status|env`` does the same for the Makefile.

By default the broker is what a bank runs: clients connect with SASL_SSL (SCRAM-SHA-512 over TLS), as one of
the principals of the topic catalog, and the StandardAuthorizer allows only what the catalog's ACLs grant
(``collections topics apply`` as the admin principal creates them). The certificates and one password per
principal are made when the directory is formatted (``devtools.kafkasecurity``) and kept in it;
``LocalKafka.settings(principal)`` and ``LocalKafka.env(principal)`` hand them to clients. The controller
listener stays PLAINTEXT on loopback (KRaft cannot authenticate it with SCRAM), its anonymous principal a
super user. ``insecure=True`` (``--insecure``) is the development mode: PLAINTEXT, no authorizer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from devtools import brokerconfig, kafkasecurity
from devtools.kafkasecurity import BROKER_PRINCIPAL, Credentials
from devtools.processes import terminate
from services.core import acls
from services.core.catalog import load_catalog
from services.core.runtime import clients
from services.core.settings import CommonSettings

KAFKA_DIR = Path(__file__).resolve().parents[1] / "deploy" / "kafka"
LIB_DIR = KAFKA_DIR / "lib"


class KafkaRuntimeError(Exception):
    """The local broker could not be assembled or started."""


def ensure_jars() -> None:
    """Copy the broker's jars from Maven Central into ``deploy/kafka/lib`` unless every one the pom names is
    already there."""
    # ``name-<version>.jar``: kafka-tools must not be taken for kafka-tools-api.
    if LIB_DIR.is_dir() and all(any(LIB_DIR.glob(f"{name}-[0-9]*.jar")) for name in _artifacts()):
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


def _artifacts() -> list[str]:
    """The artifacts the pom depends on (each dependency's first artifactId; exclusions come after it)."""
    pom = (KAFKA_DIR / "pom.xml").read_text()
    dependencies = pom.split("<dependencies>", 1)[1].split("</dependencies>")[0]
    return [
        block.split("<artifactId>", 1)[1].split("</artifactId>", 1)[0]
        for block in dependencies.split("<dependency>")[1:]
    ]


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


def _free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalKafka:
    """One broker+controller process with its data in ``workdir``.

    A directory is formatted once, secure or ``insecure``, and stays so: starting it again the other way is
    refused. It keeps the ports it was formatted with, unless ``port`` asks for another client port: ``start``
    then moves the broker's listener (and the clients' bootstrap in its credentials) there.
    """

    def __init__(self, workdir: Path, port: int = 0, heap: str = "512m", *, insecure: bool = False) -> None:
        self.workdir = workdir
        self.insecure = insecure
        self.heap = heap
        self.process: subprocess.Popen[bytes] | None = None
        formatted = self._formatted_ports()
        self.port, self.controller_port = formatted or (port or free_port(), free_port())
        self.port = port or self.port

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def properties(self) -> Path:
        return self.workdir / "server.properties"

    @property
    def credentials_file(self) -> Path:
        return self.workdir / "credentials.json"

    @property
    def credentials(self) -> Credentials | None:
        """The secure broker's CA file and passwords (None for an insecure broker)."""
        return None if self.insecure else Credentials.read(self.credentials_file)

    def settings(self, principal: str = "admin", **overrides: object) -> CommonSettings:
        """Client settings that reach this broker as ``principal`` (a name from the catalog, or ``admin``);
        ``overrides`` are other ``CommonSettings`` fields (``topic_prefix``...). An insecure broker has no
        principals: the name is only checked."""
        credentials = self.credentials
        if credentials is None:
            _known(principal)
            fields: dict[str, object] = {
                "kafka_bootstrap": self.bootstrap,
                "kafka_security_protocol": "PLAINTEXT",
            }
            return CommonSettings(**(fields | overrides))  # type: ignore[arg-type]
        return credentials.settings(principal, **overrides)

    def env(self, principal: str) -> dict[str, str]:
        """The ``COLLECTIONS_KAFKA_*`` variables of a service process that runs as ``principal``."""
        credentials = self.credentials
        if credentials is None:
            _known(principal)
            return {
                "COLLECTIONS_KAFKA_BOOTSTRAP": self.bootstrap,
                "COLLECTIONS_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT",
            }
        return credentials.env(principal)

    def start(self, timeout: float = 90.0) -> None:
        ensure_jars()
        java_version()
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not (self.workdir / "data" / "meta.properties").exists():
            self._format()
        elif self.credentials_file.exists() == self.insecure:
            have, want = (
                ("a secure", "one with --insecure") if self.insecure else ("an insecure", "a secure one")
            )
            raise KafkaRuntimeError(
                f"{self.workdir} holds {have} broker; remove the directory to start {want}"
            )
        else:
            self._listen_on_port()
        for port in (self.port, self.controller_port):
            if not _free(port):
                raise KafkaRuntimeError(
                    f"port {port} on 127.0.0.1 is in use: is another broker running there?"
                )
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
        try:
            self.wait_ready(timeout)
            if not self.insecure:
                self.ensure_principals()
        except BaseException:
            # A broker that failed to start is not left running.
            self.stop()
            (self.workdir / "kafka.pid").unlink(missing_ok=True)
            raise

    def _listen_on_port(self) -> None:
        """Rewrite a formatted directory's configuration for the client port asked (the data stays)."""
        formatted = self._formatted_ports()
        if formatted is None or formatted[0] == self.port:
            return
        credentials = self.credentials
        if credentials is None:
            self.properties.write_text(self.server_properties(None))
            return
        credentials = credentials.model_copy(update={"bootstrap": self.bootstrap})
        credentials.write(self.credentials_file)
        kafkasecurity.write_private(self.properties, self.server_properties(credentials))

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        settings = self.settings()
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                tail = (self.workdir / "kafka.log").read_text(errors="replace")[-3000:]
                raise KafkaRuntimeError(f"Kafka exited with {self.process.returncode}:\n{tail}")
            if asyncio.run(metadata_ok(settings)):
                return
            time.sleep(0.2)
        raise KafkaRuntimeError(f"Kafka did not answer a metadata request within {timeout:.0f}s")

    def stop(self, timeout: float = 30.0) -> None:
        """SIGTERM (a clean shutdown), SIGKILL if it does not exit in time."""
        if self.process is None or self.process.poll() is not None:
            return
        terminate(self.process, timeout)

    def _formatted_ports(self) -> tuple[int, int] | None:
        if not self.properties.exists():
            return None
        lines = brokerconfig.parse(self.properties.read_text())
        client = int(lines["advertised.listeners"].rsplit(":", 1)[1])
        controller = int(lines["controller.quorum.voters"].rsplit(":", 1)[1])
        return client, controller

    def _format(self) -> None:
        args = ["format", "-t", kafkasecurity.new_cluster_id(), "-c", str(self.properties)]
        if self.insecure:
            self.properties.write_text(self.server_properties(None))
            self._java("kafka.tools.StorageTool", *args)
            return
        catalog = load_catalog()
        users = [catalog.access.admin, BROKER_PRINCIPAL, *(p.name for p in catalog.principals)]
        credentials = Credentials(
            bootstrap=self.bootstrap,
            ca_file=kafkasecurity.make_certificates(self.workdir / "tls")[0],
            admin=catalog.access.admin,
            passwords=kafkasecurity.new_passwords(users),
        )
        credentials.write(self.credentials_file)
        kafkasecurity.write_private(self.properties, self.server_properties(credentials))
        for user in users:
            args += ["--add-scram", f"SCRAM-SHA-512=[name={user},password={credentials.password(user)}]"]
        self._java("kafka.tools.StorageTool", *args)

    def server_properties(self, credentials: Credentials | None) -> str:
        """This broker's configuration: secure with the ``credentials`` it was formatted with, insecure
        (PLAINTEXT, no authorizer) without."""
        name = "PLAINTEXT" if credentials is None else "CLIENT"
        security = (
            None
            if credentials is None
            else brokerconfig.Security(
                admin=credentials.admin,
                keystore=self.workdir / "tls" / "broker.pem",
                truststore=credentials.ca_file,
                broker_password=credentials.password(BROKER_PRINCIPAL),
            )
        )
        return brokerconfig.server_properties(
            [brokerconfig.Listener(name, self.bootstrap, self.bootstrap)],
            controller_port=self.controller_port,
            data_dir=self.workdir / "data",
            security=security,
        )

    def ensure_principals(self) -> None:
        """Give a password to every principal declared in the catalog after this directory was formatted
        (``start`` does it)."""
        credentials = self.credentials
        assert credentials is not None
        new = [p.name for p in load_catalog().principals if p.name not in credentials.passwords]
        if not new:
            return
        passwords = kafkasecurity.new_passwords(new)
        asyncio.run(
            acls.upsert_users(
                self.settings(credentials.admin), {n: p.get_secret_value() for n, p in passwords.items()}
            )
        )
        updated = credentials.model_copy(update={"passwords": {**credentials.passwords, **passwords}})
        updated.write(self.credentials_file)

    def _java(self, main: str, *args: str) -> None:
        """Run a Kafka tool; its arguments go through a private argument file, so that the passwords among
        them never show in the process list."""
        argfile = self.workdir / "tool.args"
        kafkasecurity.write_private(
            argfile, "\n".join(_quote(arg) for arg in ["-cp", f"{LIB_DIR}/*", main, *args]) + "\n"
        )
        try:
            result = subprocess.run(["java", f"@{argfile}"], capture_output=True, text=True, check=False)
        finally:
            argfile.unlink()
        if result.returncode != 0:
            raise KafkaRuntimeError(f"{main} failed: {result.stdout[-2000:]}{result.stderr[-2000:]}")


def _known(principal: str) -> None:
    catalog = load_catalog()
    names = {catalog.access.admin, *(p.name for p in catalog.principals)}
    if principal not in names:
        raise KeyError(f"no principal {principal!r} in the catalog: {sorted(names)}")


def _quote(arg: str) -> str:
    # Java argument files: a quoted argument keeps its spaces; backslashes and quotes are escaped.
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'


async def metadata_ok(settings: CommonSettings) -> bool:
    """Whether a broker answers a metadata request from a client with ``settings``, now."""
    host, port = settings.kafka_bootstrap.rsplit(":", 1)
    with socket.socket() as sock:
        sock.settimeout(1.0)
        if sock.connect_ex((host, int(port))) != 0:
            return False
    admin = clients.admin(settings, "localkafka-probe", request_timeout_ms=2000)
    try:
        await admin.start()
        await admin.list_topics()
    except Exception:
        return False
    finally:
        await admin.close()
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m devtools.localkafka",
        description=__doc__,
        epilog='env: eval "$(python -m devtools.localkafka env --principal gatekeeper)" sets the '
        "COLLECTIONS_KAFKA_* variables of a process that runs as that principal (admin: the tooling).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command", choices=["jars", "start", "stop", "status", "env"])
    parser.add_argument("--dir", type=Path, default=Path("var/kafka"))
    parser.add_argument("--port", type=int, default=9092)
    parser.add_argument(
        "--insecure", action="store_true", help="development only: PLAINTEXT, no authentication, no ACLs"
    )
    parser.add_argument("--principal", default="admin", help="env: the principal to print settings for")
    args = parser.parse_args(argv)
    try:
        if args.command == "jars":
            ensure_jars()
            return 0
        if args.command == "env":
            if not (args.dir / "server.properties").exists():
                raise KafkaRuntimeError(f"no broker in {args.dir}: start one first")
            insecure = not (args.dir / "credentials.json").exists()
            for name, value in LocalKafka(args.dir, insecure=insecure).env(args.principal).items():
                print(f"export {name}={shlex.quote(value)}")
            return 0
        pid_file = args.dir / "kafka.pid"
        running = _running_pid(pid_file)
        if args.command == "status":
            print(f"kafka running (pid {running})" if running else "kafka not running")
            return 0 if running else 1
        if args.command == "stop":
            pid_file.unlink(missing_ok=True)
            if not running:
                print(f"kafka was not running (data in {args.dir})")
                return 0
            os.kill(running, signal.SIGTERM)
            _wait_gone(running, 30.0)
            print(f"kafka stopped (pid {running})")
            return 0
        if running:
            bootstrap = LocalKafka(args.dir, insecure=args.insecure).bootstrap
            if bootstrap != f"127.0.0.1:{args.port}":
                raise KafkaRuntimeError(
                    f"kafka already runs (pid {running}) on {bootstrap}, not on {args.port}: stop it first"
                )
            print(f"kafka already running (pid {running}) on {bootstrap}")
            return 0
        kafka = LocalKafka(args.dir, port=args.port, insecure=args.insecure)
        kafka.start()
        mode = (
            "PLAINTEXT, insecure" if args.insecure else f"SASL_SSL, credentials in {kafka.credentials_file}"
        )
        print(f"kafka ready on {kafka.bootstrap} ({mode}; data in {args.dir}, log {args.dir / 'kafka.log'})")
        return 0
    except (KafkaRuntimeError, KeyError) as exc:
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
