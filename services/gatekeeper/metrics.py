"""The gatekeeper's own metrics: decisions by decision and reason, duplicates, deferred requests held."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from services.core.metrics import record_counts
from services.core.runtime.handler import Count
from services.gatekeeper.service import Counted


class GatekeeperMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.decisions = Counter(
            "collections_gatekeeper_decisions_total",
            "Compliance decisions by decision and reason code (a decision with no reason counts as 'none')",
            ["decision", "reason"],
            registry=registry,
        )
        self.duplicates = Counter(
            "collections_gatekeeper_duplicate_requests_total",
            "Requests whose id was already decided or deferred (redeliveries)",
            registry=registry,
        )
        self.paused_scopes = Gauge(
            "collections_gatekeeper_paused_scopes", "Operator pauses in force", registry=registry
        )
        self._by_name: dict[str, Counter | Histogram] = {
            Counted.DECISION: self.decisions,
            Counted.DUPLICATE_REQUEST: self.duplicates,
        }

    def record(self, counts: Iterable[Count]) -> None:
        record_counts(self._by_name, counts)
