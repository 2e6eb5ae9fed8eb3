"""The gatekeeper's own metrics: decisions by decision and reason, duplicates, deferred requests held."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge

from services.gatekeeper.model import Decision


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

    def observe(self, decision: Decision) -> None:
        for reason in [str(r) for r in decision.reasons] or ["none"]:
            self.decisions.labels(decision.decision.value, reason).inc()
