"""The Grafana dashboard covers the pipeline, compliance and effectiveness, and is provisioned the way
docker-compose mounts it. That every panel queries a metric some service exports is test_queried_metrics'."""

from __future__ import annotations

import json

import yaml

from tests.unit.ops.test_queried_metrics import DASHBOARD, ROOT, panels, queried

GRAFANA = ROOT / "deploy" / "grafana"


def test_the_dashboard_covers_pipeline_compliance_and_effectiveness() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == ["Pipeline", "Compliance", "Effectiveness"]
    names = set().union(*(queried(t["expr"]) for p in panels(dashboard) for t in p["targets"]))
    for metric in (
        "collections_records_consumed_total",
        "collections_records_produced_total",
        "collections_consumer_lag_records",
        "collections_deadletters_total",
        "collections_batch_seconds_bucket",
        "collections_gatekeeper_decisions_total",
        "collections_scheduled_items",
        "collections_escalation_requests_total",
        "collections_escalation_escalations_total",
        "collections_channel_sends_total",
        "collections_channel_cost_total",
    ):
        assert metric in names, metric
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
