"""The Grafana dashboard queries only metrics the code defines, so a renamed metric breaks this test rather
than a panel nobody looks at until it is needed; and it is provisioned the way docker-compose mounts it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
GRAFANA = ROOT / "deploy" / "grafana"
DASHBOARD = GRAFANA / "dashboards" / "collections.json"
METRIC = re.compile(r"\bcollections_[a-z0-9_]+")
# What Prometheus adds to a histogram's name in the exposition.
SERIES_SUFFIXES = ("_bucket", "_sum", "_count")
BUILT_IN = {"up"}


def defined_metrics() -> set[str]:
    """Every metric name given to a prometheus_client constructor in the Python sources."""
    names: set[str] = set()
    for path in (ROOT / "services").rglob("*.py"):
        names.update(re.findall(r"""["'](collections_[a-z0-9_]+)["']""", path.read_text(encoding="utf-8")))
    return names


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return [p for p in found if p["type"] != "row"]


def referenced(expr: str) -> set[str]:
    names = set()
    for name in METRIC.findall(expr):
        for suffix in SERIES_SUFFIXES:
            if name.endswith(suffix):
                name = name.removesuffix(suffix)
                break
        names.add(name)
    return names


def unknown_metrics(dashboard: dict[str, Any], known: set[str]) -> list[str]:
    problems = []
    for panel in panels(dashboard):
        for target in panel["targets"]:
            missing = referenced(target["expr"]) - known
            if missing:
                problems.append(f"{panel['title']}: {sorted(missing)}")
    return problems


def test_every_panel_queries_a_metric_the_code_defines() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    known = defined_metrics()
    assert "collections_gatekeeper_decisions_total" in known
    assert unknown_metrics(dashboard, known) == []
    for panel in panels(dashboard):
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert referenced(target["expr"]) or target["expr"] in BUILT_IN, panel["title"]


def test_a_renamed_metric_is_caught() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    known = defined_metrics() - {"collections_consumer_lag_records"}
    assert unknown_metrics(dashboard, known) == ["Consumer lag: ['collections_consumer_lag_records']"]


def test_the_dashboard_covers_pipeline_compliance_and_effectiveness() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == ["Pipeline", "Compliance", "Effectiveness"]
    queried = set().union(*(referenced(t["expr"]) for p in panels(dashboard) for t in p["targets"]))
    for metric in (
        "collections_records_consumed_total",
        "collections_records_produced_total",
        "collections_consumer_lag_records",
        "collections_deadletters_total",
        "collections_batch_seconds",
        "collections_gatekeeper_decisions_total",
        "collections_scheduled_items",
        "collections_escalation_requests_total",
        "collections_escalation_escalations_total",
        "collections_channel_sends_total",
        "collections_channel_cost_total",
    ):
        assert metric in queried, metric
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids))


def test_provisioning_points_at_the_dashboard_and_the_prometheus_data_source() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    source = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    [datasource] = source["datasources"]
    assert datasource["type"] == "prometheus"
    for panel in panels(dashboard):
        assert panel["datasource"]["uid"] == datasource["uid"], panel["title"]
    provider = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "collections.yml").read_text())
    [files] = provider["providers"]
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"./deploy/grafana/dashboards:{files['options']['path']}:ro" in mounts
    assert "./deploy/grafana/provisioning:/etc/grafana/provisioning:ro" in mounts
    assert datasource["url"] == "http://prometheus:9090" and "prometheus" in compose["services"]
