"""Settings are read once at start-up: every missing or invalid variable is reported at once, in one line
naming each, with exit code 2 and no traceback; values are never echoed (they may be secrets)."""

from __future__ import annotations

import os
import subprocess
import sys

from services.core.settings import REPO_ROOT


def start(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v for k, v in os.environ.items() if not k.startswith(("COLLECTIONS_", "WEBHOOKS_", "CHANNELS_"))
    }
    return subprocess.run(
        [sys.executable, "-m", *args],
        cwd=REPO_ROOT,
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_every_missing_setting_is_named_at_once() -> None:
    result = start("services.webhooks", "run")
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("webhooks: refusing to start: invalid settings: ")
    for name in ("WEBHOOKS_PUBLIC_BASE_URL", "WEBHOOKS_TWILIO_AUTH_TOKENS", "WEBHOOKS_LINK_SIGNING_KEYS"):
        assert f"{name} is required" in line
    assert "Traceback" not in result.stderr


def test_invalid_values_are_named_without_echoing_them() -> None:
    secret = "short"
    result = start(
        "services.channels",
        "run",
        "--channel",
        "sms",
        COLLECTIONS_LOG_LEVEL="chatty",
        COLLECTIONS_METRICS_PORT="99999",
        CHANNELS_WEBHOOKS_BASE_URL="notaurl",
        CHANNELS_LINK_SIGNING_KEYS=secret,
        CHANNELS_TWILIO_ACCOUNT_SID="AC" + "0" * 32,
        CHANNELS_TWILIO_AUTH_TOKEN="t" * 32,
    )
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    for name in (
        "COLLECTIONS_LOG_LEVEL",
        "COLLECTIONS_METRICS_PORT",
        "CHANNELS_WEBHOOKS_BASE_URL",
        "CHANNELS_LINK_SIGNING_KEYS[0]",
        "CHANNELS_SMS_FROM is required",
    ):
        assert name in line
    assert secret not in line.replace("CHANNELS_", "")
