"""Every metric an alert rule or a Grafana panel queries is one that some service exports, under the series
name Prometheus stores (a counter's ``_total``, a histogram's ``_bucket``, ``_sum`` and ``_count``): an alert
on a metric nobody exports can never fire, and a panel on one stays empty until the night it is needed.

The exported names come from the services' metrics classes registered on one registry, not from the text of
the sources; the rules are the files the scrape configuration loads, and every job they name is scraped."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from prometheus_client import CollectorRegistry

from services.channels.metrics import ChannelMetrics
from services.core.metrics import PipelineMetrics
from services.escalation.metrics import EscalationMetrics
from services.fineract.metrics import FineractMetrics
from services.gatekeeper.metrics import GatekeeperMetrics
from services.portal.metrics import PortalMetrics
from services.webhooks.metrics import WebhookMetrics

ROOT = Path(__file__).resolve().parents[3]
PROMETHEUS = ROOT / "deploy" / "prometheus"
DASHBOARD = ROOT / "deploy" / "grafana" / "dashboards" / "collections.json"

# The series each kind of metric family puts in the exposition, after its family name.
SERIES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
}
# Series Prometheus makes itself for every target.
BUILT_IN = frozenset({"up", "scrape_duration_seconds", "scrape_samples_scraped"})

_STRING = re.compile(r""""(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`""")
_MATCHERS = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_GRAFANA_VARIABLE = re.compile(r"\$\{[^}]*\}|\$\w+")
_IDENTIFIER = re.compile(r"(?<![\w.])[A-Za-z_:][\w:]*")
_KEYWORDS = frozenset({"and", "or", "unless", "offset", "bool", "inf", "nan"})
_JOB = re.compile(r"""\bjob\s*(=~|=)\s*"([^"]*)\"""")


def registry() -> CollectorRegistry:
    """Every service's metrics on one registry, as each service builds them on its own."""
    registry = CollectorRegistry()
    PipelineMetrics(registry, "any")
    for metrics in (
        ChannelMetrics,
        EscalationMetrics,
        FineractMetrics,
        GatekeeperMetrics,
        PortalMetrics,
        WebhookMetrics,
    ):
        metrics(registry)
    return registry


def exported_series(registry: CollectorRegistry) -> set[str]:
    return {family.name + suffix for family in registry.collect() for suffix in SERIES[family.type]}


def queried(expr: str) -> set[str]:
    """The metric names of a PromQL expression: its identifiers, less functions, aggregations, keywords and
    whatever sits in strings, label matchers, ranges and grouping clauses."""
    for pattern in (_STRING, _MATCHERS, _RANGE, _GROUPING, _GRAFANA_VARIABLE):
        expr = pattern.sub(" ", expr)
    names = set()
    for match in _IDENTIFIER.finditer(expr):
        if re.match(r"\s*\(", expr[match.end() :]) or match.group() in _KEYWORDS:
            continue
        names.add(match.group())
    return names


def scrape_config() -> dict[str, Any]:
    return dict(yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text()))


def alert_queries() -> list[tuple[str, str]]:
    """(alert, expression) of every rule in the files the scrape configuration loads."""
    found = []
    for name in scrape_config()["rule_files"]:
        for group in yaml.safe_load((PROMETHEUS / name).read_text())["groups"]:
            found.extend((f"alert {rule['alert']}", rule["expr"]) for rule in group["rules"])
    return found


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    """Every panel that is not a row, rows' own panels included."""
    found = []
    for panel in dashboard["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return [p for p in found if p["type"] != "row"]


def panel_queries() -> list[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [(f"panel {p['title']}", t["expr"]) for p in panels(dashboard) for t in p["targets"]]


def unknown(queries: list[tuple[str, str]], exported: set[str]) -> list[str]:
    problems = []
    for where, expr in queries:
        missing = queried(expr) - exported - BUILT_IN
        if missing:
            problems.append(f"{where}: {sorted(missing)}")
    return problems


def test_every_metric_an_alert_rule_or_a_panel_queries_is_exported_by_a_service() -> None:
    queries = alert_queries() + panel_queries()
    assert len(alert_queries()) >= 10 and len(panel_queries()) >= 20
    assert unknown(queries, exported_series(registry())) == []
    for where, expr in queries:
        assert queried(expr), f"{where} queries no metric: {expr}"


def test_the_metrics_classes_above_are_every_one_the_services_define() -> None:
    # A new metrics class left out of registry() would let its names pass unseen: every metric name a
    # prometheus_client constructor gets in the sources must be registered.
    named = set()
    for path in (ROOT / "services").rglob("*.py"):
        named.update(re.findall(r"""["'](collections_[a-z0-9_]+)["']""", path.read_text(encoding="utf-8")))
    families = {family.name for family in registry().collect()}
    assert {name.removesuffix("_total") for name in named} - families == set()


def test_the_credential_refusals_an_alert_pages_on_are_counted() -> None:
    assert "collections_channel_auth_failures_total" in exported_series(registry())


def test_a_metric_nobody_exports_is_caught_wherever_it_is_queried() -> None:
    exported = exported_series(registry()) - {"collections_consumer_lag_records"}
    assert unknown(alert_queries() + panel_queries(), exported) == [
        "alert CollectionsConsumerLagHigh: ['collections_consumer_lag_records']",
        "panel Consumer lag: ['collections_consumer_lag_records']",
    ]
    exported = exported_series(registry())
    # Prometheus has no series under a counter's or a histogram's bare family name.
    assert unknown([("q", "rate(collections_channel_sends[5m])")], exported) == [
        "q: ['collections_channel_sends']"
    ]
    assert unknown([("q", "histogram_quantile(0.9, collections_batch_seconds)")], exported) == [
        "q: ['collections_batch_seconds']"
    ]


def test_names_are_read_from_promql_and_nothing_else() -> None:
    expr = """
        sum by (service, le) (rate(collections_batch_seconds_bucket{service=~"a|b", job="x"}[5m]))
        / on (service) group_left(topic) max(collections_consumer_lag_records offset 1d) > 0.5
        and absent_over_time(collections_last_poll_timestamp_seconds[$__rate_interval])
        or label_replace(up, "dst", "$1", "src", "(.*)") unless time() - 1e3 > bool 2
    """
    assert queried(expr) == {
        "collections_batch_seconds_bucket",
        "collections_consumer_lag_records",
        "collections_last_poll_timestamp_seconds",
        "up",
    }


def test_every_job_a_rule_names_is_scraped() -> None:
    jobs = [job["job_name"] for job in scrape_config()["scrape_configs"]]
    named = [(where, op, value) for where, expr in alert_queries() for op, value in _JOB.findall(expr)]
    assert named, "the rules name no job"
    for where, op, value in named:
        pattern = value if op == "=~" else re.escape(value)
        assert any(re.fullmatch(pattern, job) for job in jobs), f"{where}: no scrape job matches {value!r}"
    services = [job for job in jobs if job != "prometheus"]
    assert all(any(re.fullmatch(v, job) for _, op, v in named if op == "=~") for job in services)
