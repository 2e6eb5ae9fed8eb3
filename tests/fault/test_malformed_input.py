"""Garbage at every stateful consumer: each bad record is dead-lettered with its reason, nothing crashes,
and the next good record is processed (property-based: hypothesis draws the garbage)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devtools.localkafka import LocalKafka
from schemas import events as ev
from schemas.topics import ACCOUNT, DEADLETTER, DECISIONS, REQUESTS
from schemas.vocab import Channel
from services.core import codec
from services.core.catalog import apply
from services.core.clock import ManualClock
from services.escalation.app import EscalationApp
from services.escalation.settings import EscalationSettings
from services.gatekeeper.app import GatekeeperApp
from tests.factories import samples
from tests.fault import garbage
from tests.fault.garbage import Junk
from tests.support import Tail, gatekeeper_settings, produce

NOW = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)  # noon in New York
GOOD = codec.encode(samples(debtor="d-junk")[0], source="/core-banking", time=NOW)


def _not_a_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return True
    return False


# Values pydantic cannot read as a positive day count: its lax mode would take "5", " 7 " or 5.0.
bad_days = st.one_of(
    st.text(max_size=20).filter(_not_a_number),
    st.lists(st.integers(-(10**6), 10**6), max_size=3),
    st.floats(allow_nan=False).filter(lambda f: not f.is_integer()),
    st.integers(-(2**63), 0),  # orjson writes 64-bit integers only
).map(lambda value: garbage.with_field(GOOD, "days_past_due", value))
# Values the edge normalizes or refuses: money as a float, an exponent, more decimals than the currency has,
# a negative amount; a currency ISO 4217 does not list; a time zone tzdata does not know.
bad_values = st.one_of(
    st.sampled_from([250.1, "1e3", "250.123", "-1.00", "abc", "12345678901234567890"]).map(
        lambda value: garbage.with_field(GOOD, "amount_due", value)
    ),
    st.sampled_from(["XYZ", "usd", "US"]).map(lambda value: garbage.with_field(GOOD, "currency", value)),
)
junk = st.one_of(
    garbage.junk(GOOD, st.one_of(bad_days, bad_values)),
    st.integers(301, 10**8).map(
        lambda seconds: garbage.from_the_future(GOOD, NOW, timedelta(seconds=seconds))
    ),
)


async def _scenario(kafka: LocalKafka, batch: list[Junk]) -> None:
    prefix = f"f{uuid.uuid4().hex[:8]}."
    await apply(kafka.settings("admin"), prefix=prefix, partitions=2)
    session = {"topic_prefix": prefix, "session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}
    common = kafka.settings("admin", **session)
    clock = ManualClock(NOW)
    gatekeeper = GatekeeperApp(kafka.settings("gatekeeper", **session), gatekeeper_settings(), clock)
    escalation = EscalationApp(kafka.settings("escalation", **session), EscalationSettings(), clock)
    tasks = [asyncio.create_task(gatekeeper.run()), asyncio.create_task(escalation.run())]
    try:
        profile = samples(debtor="d-junk")[4]
        request = next(s for s in samples(debtor="d-junk") if isinstance(s, ev.ContactRequested))
        request = request.model_copy(
            update={
                "not_before": None,
                "expires_at": None,
                "channel": Channel.EMAIL,
                "destination": "alex@example.com",
            }
        )
        records = [(ACCOUNT, key, value, headers) for _, key, value, headers in batch]
        p = codec.encode(profile, source="/core-banking", time=NOW)
        r = codec.encode(request, source="/collections/escalation", time=NOW)
        records += [(ACCOUNT, p.key, p.value, p.headers), (REQUESTS, r.key, r.value, r.headers)]
        records += [(REQUESTS, key, value, headers) for _, key, value, headers in batch]
        await produce(common, records)
        async with Tail(common, DEADLETTER, DECISIONS) as tail:
            expected = Counter(kind for kind, *_ in batch)
            # Both services read the account topic; the gatekeeper also reads the requests topic.
            await tail.wait_for(
                lambda: len(tail.of(ev.DeadLetter)) >= 3 * len(batch) and tail.of(ev.ComplianceDecision),
                timeout=60,
            )
            letters = tail.of(ev.DeadLetter)
            assert Counter(letter.consumer for letter in letters) == {
                "gatekeeper": 2 * len(batch),
                "escalation": len(batch),
            }
            for consumer, topics in (("gatekeeper", 2), ("escalation", 1)):
                got = Counter(letter.reason for letter in letters if letter.consumer == consumer)
                assert got == Counter({kind: n * topics for kind, n in expected.items()}), consumer
            assert tail.of(ev.ComplianceDecision)[0].request_id == request.request_id
        assert all(not task.done() for task in tasks)
    finally:
        gatekeeper.stop()
        escalation.stop()
        await asyncio.gather(*tasks)


@settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(junk, min_size=3, max_size=8))
def test_garbage_is_dead_lettered_and_the_next_record_processed(kafka: LocalKafka, batch: list[Junk]) -> None:
    asyncio.run(_scenario(kafka, batch))
