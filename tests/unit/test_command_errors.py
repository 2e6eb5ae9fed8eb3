"""Bad usage, bad configuration and an unreachable broker end a command in one line on stderr naming what is
wrong, with exit code 2 and no traceback; none of these needs a broker (the topics' side is in
tests/integration/test_command_errors.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from services.core.settings import REPO_ROOT
from tests.command_support import refused, refused_to_start
from tests.support import KEY_ENV

COLLECTIONS = str(Path(sys.executable).parent / "collections")
SAMPLES = str(REPO_ROOT / "deploy" / "samples" / "events.jsonl")
# Nothing listens on port 1 of the loopback.
NO_BROKER = {"COLLECTIONS_KAFKA_BOOTSTRAP": "127.0.0.1:1", "COLLECTIONS_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}
WEBHOOKS = {
    "WEBHOOKS_PUBLIC_BASE_URL": "https://collections.example.com",
    "WEBHOOKS_TWILIO_AUTH_TOKENS": "t" * 32,
    "WEBHOOKS_LINK_SIGNING_KEYS": "k" * 32,
}


CHANNELS = {
    "CHANNELS_WEBHOOKS_BASE_URL": "https://collections.example.com",
    "CHANNELS_LINK_SIGNING_KEYS": "k" * 32,
    "CHANNELS_TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
    "CHANNELS_TWILIO_AUTH_TOKEN": "t" * 32,
    "CHANNELS_SMS_FROM": "+15005550006",
}


def command(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("COLLECTIONS_", "WEBHOOKS_", "CHANNELS_", "SANDBOX_"))
    }
    return subprocess.run(
        args,
        cwd=REPO_ROOT,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("args", "prog"),
    [
        (("publish", SAMPLES), "collections publish"),
        (("topics", "apply"), "collections topics"),
        (("redrive", "list"), "collections redrive"),
        (("gatekeeper", "control", "list"), "collections gatekeeper"),
        (("gatekeeper", "control", "pause", "--all", "--operator", "alice"), "collections gatekeeper"),
        (("reporting", "report"), "reporting: cannot read the event log"),
    ],
)
def test_a_command_without_a_broker_names_the_bootstrap_setting(args: tuple[str, ...], prog: str) -> None:
    line = refused(command(COLLECTIONS, *args, **NO_BROKER), "COLLECTIONS_KAFKA_BOOTSTRAP")
    assert line.startswith(f"{prog}: no Kafka broker answers at 127.0.0.1:1")
    assert "Unclosed" not in line


@pytest.mark.parametrize("bootstrap", ["127.0.0.1:notaport", "", "127.0.0.1:0"])
def test_a_bootstrap_that_is_not_host_and_port_is_named(bootstrap: str) -> None:
    result = command(
        COLLECTIONS, "publish", SAMPLES, **(NO_BROKER | {"COLLECTIONS_KAFKA_BOOTSTRAP": bootstrap})
    )
    refused(result, "invalid settings: COLLECTIONS_KAFKA_BOOTSTRAP", "must be host:port")


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("services.escalation", "run"), {}),
        (("services.gatekeeper", "run"), KEY_ENV),
        (("services.webhooks", "run"), WEBHOOKS),
        (("services.fineract", "run"), {}),
        (("services.channels", "run", "--channel", "sms"), KEY_ENV | CHANNELS),
    ],
)
def test_a_service_without_a_broker_names_the_bootstrap_setting(
    args: tuple[str, ...], env: dict[str, str]
) -> None:
    result = command(sys.executable, "-m", *args, **(NO_BROKER | env))
    line = refused_to_start(result, "COLLECTIONS_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    assert line.startswith(f"{args[0].removeprefix('services.')}")
    assert ": refusing to start: no Kafka broker answers at" in line


def test_a_metrics_port_in_use_is_named() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        result = command(
            sys.executable, "-m", "services.escalation", "run", COLLECTIONS_METRICS_PORT=port, **NO_BROKER
        )
    refused_to_start(result, "COLLECTIONS_METRICS_PORT", f"127.0.0.1:{port}", "address already in use")


@pytest.mark.parametrize(
    "args",
    [
        ("publish", "--dry-run", SAMPLES),
        ("reporting", "audit"),
    ],
)
def test_an_unknown_clock_is_named(args: tuple[str, ...]) -> None:
    refused(command(COLLECTIONS, *args, COLLECTIONS_CLOCK="bogus"), "COLLECTIONS_CLOCK", "'wall' or 'file:")


def test_a_shared_clock_file_that_does_not_exist_is_named(tmp_path: Path) -> None:
    clock = f"file:{tmp_path / 'clock.json'}"
    result = command(COLLECTIONS, "publish", "--dry-run", SAMPLES, COLLECTIONS_CLOCK=clock)
    refused(result, "COLLECTIONS_CLOCK", str(tmp_path / "clock.json"), "does not exist")


def test_a_service_refuses_an_unknown_clock() -> None:
    result = command(
        sys.executable, "-m", "services.escalation", "run", COLLECTIONS_CLOCK="bogus", **NO_BROKER
    )
    assert refused(result, "COLLECTIONS_CLOCK").startswith("escalation: refusing to start: invalid settings:")


def test_redrive_offsets_that_are_not_a_selection() -> None:
    line = refused(command(COLLECTIONS, "redrive", "list", "--offsets", "abc"), "--offsets", "'abc'")
    assert line.endswith("(see --help)")


def test_redrive_import_of_a_line_that_is_not_json(tmp_path: Path) -> None:
    corrected = tmp_path / "corrected.jsonl"
    corrected.write_text("not json\n")
    result = command(COLLECTIONS, "redrive", "import", str(corrected), **NO_BROKER)
    assert refused(result, str(corrected), "line 1 is not JSON").endswith("nothing was republished")


@pytest.mark.parametrize("setting", ["SANDBOX_HTTP_PORT", "SANDBOX_SMTP_PORT"])
def test_a_sandbox_port_in_use_is_named(setting: str) -> None:
    env = {"SANDBOX_ADMIN_TOKEN": "a" * 32, "SANDBOX_AUTH_TOKENS": "b" * 32}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        ports = {"SANDBOX_HTTP_PORT": "0", "SANDBOX_SMTP_PORT": "0", setting: port}
        result = command(sys.executable, "-m", "services.sandbox", **(env | ports))
    refused(result, f"cannot listen on 127.0.0.1:{port}", "address already in use", setting)


def test_the_sandbox_help_needs_no_settings() -> None:
    result = command(sys.executable, "-m", "services.sandbox", "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: ")
    assert "SANDBOX_" in result.stdout
    assert result.stderr == ""


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("WEBHOOKS_PUBLIC_BASE_URL", "notaurl", "WEBHOOKS_PUBLIC_BASE_URL Value error, must be an absolute"),
        (
            "WEBHOOKS_LINK_SIGNING_KEYS",
            "k",
            "WEBHOOKS_LINK_SIGNING_KEYS[0] Value error, a signing key must be",
        ),
    ],
)
def test_the_webhooks_refuse_a_bad_url_or_a_short_link_key(variable: str, value: str, message: str) -> None:
    result = command(
        sys.executable, "-m", "services.webhooks", "run", **(NO_BROKER | WEBHOOKS | {variable: value})
    )
    line = refused(result, message)
    assert line.startswith("webhooks: refusing to start: invalid settings:")
    assert f"={value}" not in line


@pytest.mark.parametrize(
    ("scope", "named"),
    [
        (
            ("--template", "no_such_template"),
            ("no template 'no_such_template'", "GATEKEEPER_TEMPLATES", "reminder"),
        ),
        (("--strategy", "typo"), ("no strategy 'typo'", "ESCALATION_STRATEGY", "standard")),
    ],
)
def test_a_pause_of_a_name_nothing_carries_is_refused(scope: tuple[str, str], named: tuple[str, ...]) -> None:
    # Checked before anything is published: no broker is needed to refuse it.
    result = command(
        COLLECTIONS, "gatekeeper", "control", "pause", *scope, "--operator", "alice", **NO_BROKER
    )
    assert refused(result, *named).startswith("collections gatekeeper: ")
    assert result.stdout == ""


def test_a_strategy_is_checked_against_the_files_the_escalation_is_given(tmp_path: Path) -> None:
    strategies = tmp_path / "strategies"
    strategies.mkdir()
    (strategies / "trial.toml").write_text('strategy = "trial"\n')
    (strategies / "gentle.toml").write_text('strategy = "gentle"\n')
    env = NO_BROKER | {"ESCALATION_STRATEGY": str(strategies / "trial.toml")}
    result = command(
        COLLECTIONS, "gatekeeper", "control", "pause", "--strategy", "standard", "--operator", "a", **env
    )
    refused(result, "no strategy 'standard'", str(strategies), "known: gentle, trial")
