"""The adapter's stage on the runtime over the in-memory broker: what it publishes, holds, dead-letters and
counts, and what its changelog keeps across a restart."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from pydantic import BaseModel

from schemas import events as ev
from schemas.topics import ACCOUNT, DEADLETTER, FINERACT_STATE
from services.core import codec
from services.core.clock import ManualClock
from services.core.runtime.memory import MemoryBroker
from services.core.settings import CommonSettings, ConfigError
from services.fineract import avro
from services.fineract.app import FineractApp
from services.fineract.encode import Encoded, Encoder
from services.fineract.settings import FineractSettings
from services.fineract.state import LoanEntry, LoanState
from tests.unit.fineract import wire

TOPIC = "external-events"
T0 = datetime(2024, 10, 24, 9, 52, 59, 123456, tzinfo=UTC)
DUE = date(2024, 10, 14)
FINERACT = Encoder()


def loan(loan_id: int = 42, client_id: int | None = 17, at: datetime = T0) -> Encoded:
    return FINERACT.loan(
        loan_id, client_id, at, outstanding=Decimal("1200.50"), event_type="LoanDisbursalBusinessEvent"
    )


def overdue(loan_id: int = 42, at: datetime = T0, **kw: object) -> Encoded:
    return FINERACT.overdue(loan_id, at, due_date=DUE, past_due=Decimal("245.67"), **kw)  # type: ignore[arg-type]


def seed(outstanding: str, at: datetime) -> Encoded:
    listed = LoanState(
        loan_id=42,
        client_id=17,
        product="Personal Loan",
        currency="USD",
        decimal_places=2,
        outstanding=Decimal(outstanding),
        status=300,
    )
    return FINERACT.seed(listed, at)


def keyed(value: bytes, loan_id: int = 42) -> Encoded:
    """A value written by the tests' own Avro helpers, keyed as Fineract keys it."""
    return Encoded(loan_id.to_bytes(8, "big"), value)


class Adapter:
    """One adapter process on an in-memory broker (a second one on the same broker is a restart)."""

    def __init__(self, broker: MemoryBroker, clock: ManualClock, **settings: object) -> None:
        self.broker = broker
        self.clock = clock
        self.app = FineractApp(
            CommonSettings(),
            FineractSettings(**settings),
            self.clock,
            connector=broker,  # type: ignore[arg-type]
        )

    async def start(self) -> None:
        await self.app.runtime.start()

    async def close(self) -> None:
        await self.app.runtime.close()

    async def send(self, *records: Encoded) -> None:
        for record in records:
            self.broker.append(TOPIC, record.key, record.value)
        await self.app.runtime.step()

    def published(self) -> list[codec.Envelope[BaseModel]]:
        return [codec.decode(r.key, r.value, r.headers) for r in self.broker.records(ACCOUNT)]

    def events(self) -> list[BaseModel]:
        return [e.event for e in self.published()]

    def dead_letters(self) -> list[ev.DeadLetter]:
        letters = [codec.decode(r.key, r.value, r.headers).event for r in self.broker.records(DEADLETTER)]
        assert all(isinstance(letter, ev.DeadLetter) for letter in letters)
        return letters  # type: ignore[return-value]

    def state(self, loan_id: int) -> LoanEntry | None:
        return self.app.stage.state(f"loan:{loan_id}")

    def metric(self, name: str, **labels: str) -> float:
        value = self.app.registry.get_sample_value(name, labels)
        return value or 0.0


@pytest.fixture
async def adapter() -> AsyncIterator[Adapter]:
    running = Adapter(MemoryBroker(partitions=4), ManualClock(T0 + timedelta(minutes=1)))
    await running.start()
    yield running
    await running.close()


async def test_an_overdue_of_a_learned_loan_is_published_keyed_by_debtor_with_fineracts_id_and_time(
    adapter: Adapter,
) -> None:
    await adapter.send(loan(), overdue(idempotency_key=wire.KEY))
    [published] = adapter.published()
    assert isinstance(published.event, ev.AccountOverdue)
    assert (published.event.debtor_id, published.event.account_id) == ("17", "42")
    assert (published.id, published.time) == (wire.KEY, T0)  # ce_id, ce_time: idempotencyKey, createdAt
    [record] = adapter.broker.records(ACCOUNT)
    assert record.key == b"17"
    assert adapter.metric("collections_fineract_translated_total", type="AccountOverdue") == 1
    # The loan learned is in the changelog, at the partition number of the loan's records.
    [state] = adapter.broker.records(FINERACT_STATE)
    [source] = adapter.broker.records(TOPIC)[:1]
    assert (state.key, state.partition) == (b"loan:42", source.partition)
    assert LoanEntry.model_validate_json(state.value).loan is not None  # type: ignore[arg-type]


async def test_a_record_that_changes_nothing_writes_no_state(adapter: Adapter) -> None:
    await adapter.send(loan())
    written = len(adapter.broker.records(FINERACT_STATE))
    await adapter.send(
        overdue(),
        FINERACT.repayment(42, 9001, T0, amount=Decimal(100), outstanding=Decimal(900)),
        keyed(wire.event("LoanDisbursalBusinessEvent", avro.LOAN_ACCOUNT, wire.loan_account(), tenant="b2")),
    )
    assert [type(e) for e in adapter.events()] == [ev.AccountOverdue, ev.PaymentPosted]
    assert len(adapter.broker.records(FINERACT_STATE)) == written
    assert adapter.metric("collections_fineract_ignored_total", reason="other_tenant") == 1


async def test_an_overdue_of_an_unknown_loan_is_held_then_released_when_the_loan_is_learned(
    adapter: Adapter,
) -> None:
    await adapter.send(overdue())
    assert adapter.events() == []
    entry = adapter.state(42)
    assert entry is not None and entry.loan is None and len(entry.held) == 1
    assert adapter.metric("collections_fineract_held_total", outcome="held") == 1
    assert adapter.metric("collections_scheduled_items", service="fineract") == 1

    await adapter.send(loan())
    [event] = adapter.events()
    assert isinstance(event, ev.AccountOverdue) and event.amount_due == Decimal("245.67")
    entry = adapter.state(42)
    assert entry is not None and entry.loan is not None and entry.held == []
    assert adapter.metric("collections_fineract_held_total", outcome="released") == 1


async def test_a_held_record_is_dead_lettered_whole_once_the_bound_passes(adapter: Adapter) -> None:
    record = overdue()
    await adapter.send(record)
    adapter.clock.advance(timedelta(seconds=FineractSettings().hold_seconds))
    await adapter.send()
    [letter] = adapter.dead_letters()
    assert (letter.reason, letter.consumer, letter.source_topic) == ("unknown_loan", "fineract", TOPIC)
    assert (base64.b64decode(letter.key_b64 or ""), base64.b64decode(letter.value_b64 or "")) == (
        record.key,
        record.value,
    )
    assert adapter.state(42) is None  # nothing learned, nothing held: the key is gone
    assert adapter.metric("collections_fineract_held_total", outcome="expired") == 1
    assert adapter.metric("collections_deadletters_total", service="fineract", reason="unknown_loan") == 1
    # Learned later, the loan does not bring the dead letter back: a redrive does.
    await adapter.send(loan())
    assert adapter.events() == []


async def test_the_records_held_for_a_loan_are_dead_lettered_together_and_redriven_in_order(
    adapter: Adapter,
) -> None:
    first, second = overdue(), FINERACT.repayment(42, 9001, T0, amount=Decimal(100), outstanding=Decimal(900))
    await adapter.send(first)
    adapter.clock.advance(timedelta(minutes=30))
    await adapter.send(second)
    adapter.clock.advance(timedelta(minutes=31))  # the first's bound, not yet the second's
    await adapter.send()
    assert [base64.b64decode(x.value_b64 or "") for x in adapter.dead_letters()] == [
        first.value,
        second.value,
    ]
    assert adapter.state(42) is None
    # The loan seeded, a redrive puts both back, in their order: neither is skipped as already applied.
    await adapter.send(seed("1200.50", T0), first, second)
    assert [type(e) for e in adapter.events()] == [ev.AccountOverdue, ev.PaymentPosted]


async def test_held_records_survive_a_restart() -> None:
    broker, clock = MemoryBroker(partitions=4), ManualClock(T0 + timedelta(minutes=1))
    first = Adapter(broker, clock)
    await first.start()
    await first.send(overdue())
    await first.close()

    second = Adapter(broker, clock)
    await second.start()
    try:
        await second.send(loan())
        assert [type(e) for e in second.events()] == [ev.AccountOverdue]
    finally:
        await second.close()


async def test_a_seed_teaches_only_a_loan_not_known(adapter: Adapter) -> None:
    await adapter.send(overdue())
    await adapter.send(seed("999.00", T0 - timedelta(days=1)))
    [event] = adapter.events()
    assert isinstance(event, ev.AccountOverdue) and event.total_outstanding == Decimal("999.00")
    # Once the stream taught the loan, an older listing changes nothing.
    await adapter.send(loan(at=T0 + timedelta(minutes=5)))
    await adapter.send(seed("1.00", T0))
    entry = adapter.state(42)
    assert entry is not None and entry.loan is not None and entry.loan.outstanding == Decimal("1200.50")
    assert adapter.metric("collections_fineract_ignored_total", reason="already_known") == 1


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (wire.event("LoanDisbursalBusinessEvent", avro.LOAN_ACCOUNT, wire.loan_account())[:40], "truncated"),
        (b"\xc3\x01" + b"\x00" * 8 + b"body", "unknown_fingerprint"),
        (b'{"json": "not avro"}', "bad_magic"),
        (
            wire.event("LoanRepaymentOverdueBusinessEvent", avro.LOAN_ACCOUNT, wire.loan_account()),
            "unknown_type",
        ),
        (
            wire.event(
                "LoanRepaymentOverdueBusinessEvent",
                avro.LOAN_REPAYMENT_DUE,
                wire.repayment_due(past_due=None),
            ),
            "missing_field",
        ),
        (
            wire.event(
                "LoanRepaymentOverdueBusinessEvent",
                avro.LOAN_REPAYMENT_DUE,
                wire.repayment_due(past_due="1.001"),
            ),
            "too_many_decimals",
        ),
    ],
    ids=["truncated", "fingerprint", "magic", "type", "missing", "decimals"],
)
async def test_records_that_cannot_be_read_or_translated_are_dead_lettered_with_the_reason(
    adapter: Adapter, value: bytes, reason: str
) -> None:
    await adapter.send(loan(), keyed(value))
    [letter] = adapter.dead_letters()
    assert letter.reason == reason
    assert base64.b64decode(letter.value_b64 or "") == value
    assert adapter.metric("collections_deadletters_total", service="fineract", reason=reason) == 1


async def test_a_record_sent_again_is_applied_once(adapter: Adapter) -> None:
    await adapter.send(overdue(), loan())  # held, then released
    await adapter.send(overdue())  # Fineract sends the same event again: the same idempotency key
    assert len(adapter.published()) == 1
    assert adapter.metric("collections_duplicates_skipped_total", service="fineract") == 1


async def test_profiles_without_consent_are_counted_per_channel(adapter: Adapter) -> None:
    client = FINERACT.client(17, T0, name="Alex Doe", mobile="+16175550100", email="alex@example.com")
    await adapter.send(client)
    [profile] = adapter.events()
    assert isinstance(profile, ev.DebtorProfileUpdated)
    for channel in ("sms", "voice", "email"):
        assert adapter.metric("collections_fineract_profiles_without_consent_total", channel=channel) == 1
    assert adapter.broker.records(FINERACT_STATE) == []  # clients need no state


async def test_a_profile_with_the_banks_consents_is_not_counted() -> None:
    adapter = Adapter(
        MemoryBroker(partitions=4), ManualClock(T0), phone_consents="sms,voice", email_consents="email"
    )
    await adapter.start()
    try:
        await adapter.send(FINERACT.client(17, T0, name="Alex Doe", mobile="+16175550100"))
        assert adapter.metric("collections_fineract_profiles_without_consent_total", channel="sms") == 0
    finally:
        await adapter.close()


async def test_the_changelog_must_have_as_many_partitions_as_the_fineract_topic() -> None:
    broker = MemoryBroker(partitions=4)
    broker.create(TOPIC, partitions=10)  # Fineract's default
    adapter = Adapter(broker, ManualClock(T0))
    with pytest.raises(
        ConfigError, match=r"collections\.fineract\.state\.v1 has 4 partitions, fewer than the 10"
    ):
        await adapter.start()


def test_every_reason_a_fineract_record_is_refused_for_is_a_dead_letter_reason() -> None:
    from typing import get_args

    from schemas.vocab import DeadLetterReason

    assert set(get_args(avro.Reason)) | {"unknown_loan"} <= {r.value for r in DeadLetterReason}
