"""The webhooks service's own metrics, on its registry. Labels come from fixed sets: the endpoint, the
provider status (unknown ones count as ``other``), the intent of an inbound SMS, the rejection reason."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class WebhookMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.callbacks = Counter(
            "collections_webhooks_callbacks_total",
            "Accepted callbacks by endpoint and status (message and call status, answered by, keypad "
            "digit, inbound intent, unsubscribe step)",
            ["endpoint", "status"],
            registry=registry,
        )
        self.rejected = Counter(
            "collections_webhooks_rejected_signatures_total",
            "Requests refused with 403: bad or missing Twilio signature, bad context or unsubscribe token",
            ["endpoint", "reason"],
            registry=registry,
        )
        self.malformed = Counter(
            "collections_webhooks_malformed_requests_total",
            "Requests refused with 400: not a UTF-8 form, or a field out of its bounds",
            ["endpoint"],
            registry=registry,
        )
        self.duplicates = Counter(
            "collections_webhooks_duplicates_total",
            "Callbacks ignored: a copy of one in hand or handled (provider retry, replay), or a status that "
            "does not move a message forward",
            ["endpoint"],
            registry=registry,
        )
        self.unmatched = Counter(
            "collections_webhooks_unmatched_inbound_total",
            "Inbound SMS from a number no debtor profile has",
            registry=registry,
        )
        self.bounces = Counter(
            "collections_webhooks_bounces_total",
            "Mail to the bounce receiver by result: hard (5.x.x, request undelivered), soft (4.x.x, no "
            "change), no_failure, not_dsn, other_recipient (about an archive copy), forged (refused: no "
            "valid token)",
            ["result"],
            registry=registry,
        )
        self.request_seconds = Histogram(
            "collections_webhooks_request_seconds",
            "Time to answer a webhook, events acknowledged by Kafka included",
            ["endpoint"],
            registry=registry,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )
