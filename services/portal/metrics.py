"""The portal's own metrics. Labels come from fixed sets (page, action, outcome, reason); never a debtor,
a token, an address or an amount."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class PortalMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.verifications = Counter(
            "collections_portal_verifications_total",
            "Verification attempts by outcome: verified, wrong, locked (link or client over its limit), "
            "unavailable (no knowledge factor on file)",
            ["outcome"],
            registry=registry,
        )
        self.refused = Counter(
            "collections_portal_refused_total",
            "Requests refused: bad, expired or unknown link, missing or wrong CSRF token, no session",
            ["reason"],
            registry=registry,
        )
        self.actions = Counter(
            "collections_portal_actions_total",
            "Actions taken (promise, not_me) by outcome: recorded, duplicate (a double submit), invalid",
            ["action", "outcome"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "collections_portal_request_seconds",
            "Time to answer a page, events acknowledged by Kafka included",
            ["page"],
            registry=registry,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
