"""A bad policy pack or strategy file stops the service at start-up, naming the file and the field."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from services.core.settings import DEPLOY_DIR, REPO_ROOT
from tests.support import KEY_ENV


def start(
    args: list[str], env: dict[str, str], program: tuple[str, ...] = (sys.executable, "-m")
) -> subprocess.CompletedProcess[str]:
    # No broker is needed: the configuration is checked before any connection is made.
    return subprocess.run(
        [*program, *args],
        cwd=REPO_ROOT,
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_gatekeeper_refuses_a_bad_policy_pack(tmp_path: Path) -> None:
    packs = tmp_path / "policies"
    packs.mkdir()
    for pack in (DEPLOY_DIR / "policies").glob("*.toml"):
        text = pack.read_text()
        if pack.name == "us.toml":
            text = text.replace("limit = 7", "limit = -7", 1)
        (packs / pack.name).write_text(text)
    assert "limit = -7" in (packs / "us.toml").read_text()
    result = start(
        ["services.gatekeeper", "run"],
        {"GATEKEEPER_POLICIES": str(packs), "COLLECTIONS_KAFKA_BOOTSTRAP": "127.0.0.1:1", **KEY_ENV},
    )
    assert result.returncode == 2
    assert "us.toml" in result.stderr
    assert "limit" in result.stderr and "greater than" in result.stderr


def test_gatekeeper_refuses_a_policies_folder_without_the_bank_pack(tmp_path: Path) -> None:
    # The contact hours every debtor gets live in BANK: without it the gatekeeper would approve at any hour.
    packs = tmp_path / "policies"
    packs.mkdir()
    for pack in (DEPLOY_DIR / "policies").glob("*.toml"):
        if pack.name != "bank.toml":
            (packs / pack.name).write_text(pack.read_text())
    # The console script, as an operator types it: collections gatekeeper run.
    collections = str(Path(sys.executable).with_name("collections"))
    env = {"GATEKEEPER_POLICIES": str(packs), "COLLECTIONS_KAFKA_BOOTSTRAP": "127.0.0.1:1", **KEY_ENV}
    result = start(["gatekeeper", "run"], env, program=(collections,))
    assert result.returncode == 2, result.stderr
    assert f"gatekeeper: refusing to start: {packs}: no BANK pack (bank.toml)" in result.stderr


def test_escalation_refuses_a_bad_strategy(tmp_path: Path) -> None:
    strategy = tmp_path / "broken.toml"
    text = (DEPLOY_DIR / "strategies" / "standard.toml").read_text()
    head, segments, steps = text.partition("[[segments]]")
    strategy.write_text(head + segments + steps.replace('channel = "sms"', 'channel = "fax"', 1))
    result = start(
        ["services.escalation", "run"],
        {"ESCALATION_STRATEGY": str(strategy), "COLLECTIONS_KAFKA_BOOTSTRAP": "127.0.0.1:1"},
    )
    assert result.returncode == 2
    assert "broken.toml" in result.stderr
    assert "segments[0].steps[0].channel" in result.stderr


def test_bad_environment_names_the_variable() -> None:
    result = start(["services.gatekeeper", "run"], {"COLLECTIONS_SESSION_TIMEOUT_MS": "soon"})
    assert result.returncode == 2
    assert "COLLECTIONS_SESSION_TIMEOUT_MS" in result.stderr
