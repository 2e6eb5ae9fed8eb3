"""Escalation's metrics: cases by segment and arm, requests by channel and step, escalations, stop latency."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram

from services.core.metrics import record_counts
from services.core.runtime.handler import Count
from services.escalation.service import Counted


class EscalationMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.cases = Counter(
            "collections_escalation_cases_total",
            "Accounts entering a strategy segment, by arm",
            ["segment", "arm"],
            registry=registry,
        )
        self.requests = Counter(
            "collections_escalation_requests_total",
            "Contact requests made, by channel and ladder step",
            ["channel", "step"],
            registry=registry,
        )
        self.escalations = Counter(
            "collections_escalation_escalations_total",
            "Escalations raised, by kind",
            ["kind"],
            registry=registry,
        )
        self.no_channel = Counter(
            "collections_escalation_no_channel_total",
            "Steps skipped because no contact point was usable on any channel",
            registry=registry,
        )
        self.stop_latency = Histogram(
            "collections_escalation_stop_latency_seconds",
            "From a payment in full (its event time) to outreach stopped for the account",
            registry=registry,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
        )
        self._by_name: dict[str, Counter | Histogram] = {
            Counted.CASE: self.cases,
            Counted.REQUEST: self.requests,
            Counted.ESCALATION: self.escalations,
            Counted.NO_CHANNEL: self.no_channel,
            Counted.STOP_LATENCY: self.stop_latency,
        }

    def record(self, counts: Iterable[Count]) -> None:
        record_counts(self._by_name, counts)
