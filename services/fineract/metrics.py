"""The Fineract adapter's metrics: events translated by type, records ignored by reason, holds by outcome,
and profiles published without consent per channel. Dead letters are the runtime's
(``collections_deadletters_total{service="fineract"}``), and so is the number of records held right now
(``collections_scheduled_items{service="fineract"}``)."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter

from services.core.metrics import record_counts
from services.core.runtime.handler import Count
from services.fineract.service import Counted


class FineractMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.translated = Counter(
            "collections_fineract_translated_total",
            "Platform events published from Fineract records, by event type",
            ["type"],
            registry=registry,
        )
        self.ignored = Counter(
            "collections_fineract_ignored_total",
            "Fineract records (or bulk items) that needed no platform event, by reason",
            ["reason"],
            registry=registry,
        )
        self.held = Counter(
            "collections_fineract_held_total",
            "Records about a loan not learned yet: held, released once it was, or expired (dead-lettered)",
            ["outcome"],
            registry=registry,
        )
        self.no_consent = Counter(
            "collections_fineract_profiles_without_consent_total",
            "Debtor profiles published with a contact point for the channel but no consent on any: a pack "
            "that requires consent blocks them NO_CONSENT until the bank publishes its consents",
            ["channel"],
            registry=registry,
        )
        self._by_name: dict[str, Counter] = {
            Counted.TRANSLATED: self.translated,
            Counted.IGNORED: self.ignored,
            Counted.HELD: self.held,
            Counted.NO_CONSENT: self.no_consent,
        }

    def record(self, counts: Iterable[Count]) -> None:
        record_counts(self._by_name, counts)
