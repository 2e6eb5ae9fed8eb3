"""Garbage on a channel worker's dispatch topic (the consumer test_malformed_input.py leaves out): random
bytes, wrong types, missing headers, unknown event types, a 900 KiB value, a key that is
not the debtor id, an event that is not an approval for the channel. Each bad record is dead-lettered with
its reason, the worker keeps going, and the approval after them is sent once (property-based: hypothesis
draws the garbage)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections import Counter

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from devtools.localkafka import LocalKafka
from schemas import events as ev
from schemas.topics import DEADLETTER, DISPATCH, OUTCOMES
from schemas.vocab import Channel
from services.channels.app import ChannelApp
from services.core import codec
from services.core.catalog import apply
from services.core.clock import ManualClock
from tests.channels_support import START, approval, channels_settings, phone, sandbox
from tests.fault import garbage
from tests.fault.garbage import Junk
from tests.support import Tail, produce, signed

GOOD = codec.encode(approval("d-junk", "r-good", phone(50)), source="/collections/gatekeeper", time=START)
EMAIL = codec.encode(
    approval("d-junk", "r-mail", "alex@example.com", channel=Channel.EMAIL), source="/tests", time=START
)
TOO_LARGE = garbage.too_large(GOOD)
junk = st.one_of(
    garbage.junk(
        GOOD,
        st.one_of(
            st.text(max_size=20).filter(lambda t: t not in {c.value for c in Channel}),
            st.lists(st.integers(-(10**6), 10**6), max_size=3),
            st.floats(allow_nan=False),
            st.integers(-(2**63), 2**63 - 1),
        ).map(lambda value: garbage.with_field(GOOD, "channel", value)),
    ),
    st.just(("wrong_topic", EMAIL.key, EMAIL.value, EMAIL.headers)),  # an approval for another channel
)


async def _scenario(kafka: LocalKafka, batch: list[Junk]) -> None:
    prefix = f"f{uuid.uuid4().hex[:8]}."
    await apply(kafka.settings("admin"), prefix=prefix, partitions=2)
    session = {"topic_prefix": prefix, "session_timeout_ms": 6000, "heartbeat_interval_ms": 1000}
    common = kafka.settings("admin", **session)
    clock = ManualClock(START)
    async with sandbox([f"fake-{secrets.token_hex(12)}"], clock) as providers:
        # Callbacks go nowhere: this test is about what the worker reads, not what it hears back.
        config = channels_settings(providers, "http://127.0.0.1:9", [f"link-{secrets.token_hex(16)}"])
        app = ChannelApp(Channel.SMS, kafka.settings("channels-sms", **session), config, clock)
        task = asyncio.create_task(app.run())
        try:
            sms = DISPATCH[Channel.SMS]
            records = [(sms, key, value, headers) for _, key, value, headers in batch]
            await produce(common, [*records, signed(common, sms, GOOD)])
            async with Tail(common, DEADLETTER, OUTCOMES) as tail:
                await tail.wait_for(
                    lambda: len(tail.of(ev.DeadLetter)) >= len(batch) and tail.of(ev.ContactOutcome),
                    timeout=60,
                )
                await tail.settle()
                letters = tail.of(ev.DeadLetter)
                assert {letter.consumer for letter in letters} == {"channels-sms"}
                assert Counter(letter.reason for letter in letters) == Counter(kind for kind, *_ in batch)
                assert [(o.request_id, o.status.value) for o in tail.of(ev.ContactOutcome)] == [
                    ("r-good", "sent")
                ]
            assert [m["request_id"] for m in await providers.messages()] == ["r-good"]
            assert not task.done()
        finally:
            app.stop()
            await asyncio.wait_for(task, 30)


@settings(max_examples=3, deadline=None, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(junk, min_size=3, max_size=8))
# Always drawn: the dead letter of the large value is big.
@example(batch=[TOO_LARGE, ("invalid_json", GOOD.key, b"\x00", garbage.headers(GOOD))])
def test_garbage_on_a_dispatch_topic_is_dead_lettered_and_the_next_approval_sent(
    kafka: LocalKafka, batch: list[Junk]
) -> None:
    asyncio.run(_scenario(kafka, batch))
