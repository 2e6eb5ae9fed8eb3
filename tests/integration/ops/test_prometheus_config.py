"""deploy/prometheus checked by Prometheus's own tool: the scrape configuration, the alert rules and their
unit tests (rules_test.yml), so a broken rule fails ``make test`` rather than a night on call."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

PROMETHEUS_DIR = Path(__file__).resolve().parents[3] / "deploy" / "prometheus"
PROMTOOL = shutil.which("promtool")

pytestmark = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool is not installed: `make prometheus` (root) or `apt-get install prometheus` installs it",
)


def run(*args: str, cwd: Path = PROMETHEUS_DIR) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def promtool(*args: str) -> str:
    done = run(*args)
    assert done.returncode == 0, f"promtool {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def test_scrape_configuration_is_valid() -> None:
    assert "SUCCESS" in promtool("check", "config", "prometheus.yml")


def test_alert_rules_are_valid() -> None:
    assert "SUCCESS: 10 rules found" in promtool("check", "rules", "rules.yml")


def test_alert_rule_unit_tests_pass() -> None:
    assert "SUCCESS" in promtool("test", "rules", "rules_test.yml")


def test_a_wrong_expectation_fails(tmp_path: Path) -> None:
    """The check has teeth: an alert expected where the rules raise none makes promtool fail."""
    (tmp_path / "wrong_test.yml").write_text(
        f"""
rule_files: ["{PROMETHEUS_DIR / "rules.yml"}"]
tests:
  - interval: 1m
    input_series:
      - series: 'collections_consumer_lag_records{{service="gatekeeper", topic="t"}}'
        values: '10x20'
    alert_rule_test:
      - eval_time: 15m
        alertname: CollectionsConsumerLagHigh
        exp_alerts:
          - exp_labels: {{severity: warning, service: gatekeeper, topic: t}}
"""
    )
    done = run("test", "rules", "wrong_test.yml", cwd=tmp_path)
    assert done.returncode != 0
    assert "CollectionsConsumerLagHigh" in done.stdout + done.stderr
