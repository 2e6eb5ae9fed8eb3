"""The channel workers' own metrics, on the service's registry. Labels come from fixed sets only: channel,
outcome status, operation, retry reason, reconciliation result, currency (one per deployment)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ChannelMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.sends = Counter(
            "collections_channel_sends_total",
            "Outcomes published by the worker, by channel and outcome status",
            ["channel", "outcome"],
            registry=registry,
        )
        self.provider_seconds = Histogram(
            "collections_channel_provider_seconds",
            "Latency of provider calls (send: create a message, call or mail; lookup: reconcile; status: "
            "ask for a final status whose callback did not come)",
            ["channel", "operation"],
            registry=registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.retries = Counter(
            "collections_channel_retries_total",
            "Send attempts repeated, by reason (transient: refused before creation; uncertain: after a "
            "5xx or timeout that the lookup showed created nothing)",
            ["channel", "reason"],
            registry=registry,
        )
        self.reconciliations = Counter(
            "collections_channel_reconciliations_total",
            "Lookups of claimed sends whose result was unknown, by result (found, not_found, unknown)",
            ["channel", "result"],
            registry=registry,
        )
        self.lost_callbacks = Counter(
            "collections_channel_lost_callbacks_total",
            "Sends whose final status callback had not come within the bound, settled by asking the "
            "provider, by the outcome it gave (unknown: the provider could not tell)",
            ["channel", "outcome"],
            registry=registry,
        )
        self.auth_failures = Counter(
            "collections_channel_auth_failures_total",
            "Provider refusals of the worker's credentials (or of an insecure SMTP relay); the worker stops",
            ["channel"],
            registry=registry,
        )
        self.cost = Counter(
            "collections_channel_cost_total",
            "Provider cost of sends, by currency (SMS: the provider's charge once it reports one, else "
            "segments x price per segment)",
            ["channel", "currency"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "collections_channel_in_flight_sends",
            "Requests being sent, retried or reconciled right now",
            ["channel"],
            registry=registry,
        )
        self.rate_limited_seconds = Counter(
            "collections_channel_rate_limit_wait_seconds_total",
            "Time spent waiting for the per-sender token bucket",
            ["channel"],
            registry=registry,
        )
