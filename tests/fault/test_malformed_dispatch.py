"""Garbage on a channel worker's dispatch topic (issue 8, fault 5, for the consumer test_malformed_input.py
leaves out): random bytes, wrong types, missing headers, unknown event types, a 900 KiB value, a key that is
not the debtor id, an event that is not an approval for the channel. Each bad record is dead-lettered with
its reason, the worker keeps going, and the approval after them is sent once (property-based: hypothesis
draws the garbage)."""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections import Counter

import orjson
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from devtools.localkafka import LocalKafka
from schemas import events as ev
from schemas.topics import DEADLETTER, DISPATCH, OUTCOMES
from schemas.vocab import Channel
from services.channels.app import ChannelApp
from services.core import codec
from services.core.clock import ManualClock
from services.core.settings import CommonSettings
from services.core.topics import apply
from tests.channels_support import START, approval, channels_settings, phone, sandbox
from tests.support import Tail, produce

GOOD = codec.encode(approval("d-junk", "r-good", phone(50)), source="/collections/gatekeeper", time=START)
EMAIL = codec.encode(
    approval("d-junk", "r-mail", "alex@example.com", channel=Channel.EMAIL), source="/tests", time=START
)
Junk = tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]


def _headers(
    drop: frozenset[str] = frozenset(), replace: dict[str, bytes] | None = None
) -> list[tuple[str, bytes]]:
    replace = replace or {}
    return [(n, replace.get(n, v)) for n, v in GOOD.headers if n not in drop]


TOO_LARGE: Junk = ("too_large", GOOD.key, b'{"pad": "' + b"x" * 900 * 1024 + b'"}', _headers())


def _not_json(raw: bytes) -> bool:
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError:
        return True
    return False


def _wrong_channel(value: object) -> Junk:
    return (
        "schema_violation",
        GOOD.key,
        orjson.dumps(orjson.loads(GOOD.value) | {"channel": value}),
        _headers(),
    )


junk = st.one_of(
    st.binary(min_size=1, max_size=300)
    .filter(_not_json)
    .map(lambda b: ("invalid_json", GOOD.key, b, _headers())),
    st.one_of(
        st.text(max_size=20).filter(lambda t: t not in {c.value for c in Channel}),
        st.lists(st.integers(-(10**6), 10**6), max_size=3),
        st.floats(allow_nan=False),
        st.integers(-(2**63), 2**63 - 1),
    ).map(_wrong_channel),
    st.sets(st.sampled_from(codec.REQUIRED_HEADERS), min_size=1).map(
        lambda drop: ("missing_header", GOOD.key, GOOD.value, _headers(drop=frozenset(drop)))
    ),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz.", min_size=1, max_size=40).map(
        lambda t: ("unknown_type", GOOD.key, GOOD.value, _headers(replace={"ce_type": f"x.{t}".encode()}))
    ),
    st.just(TOO_LARGE),
    st.text(alphabet="abcdefghij0123456789", min_size=1, max_size=12)
    .filter(lambda k: k != "d-junk")
    .map(lambda k: ("key_mismatch", k.encode(), GOOD.value, _headers())),
    st.just(("schema_violation", EMAIL.key, EMAIL.value, EMAIL.headers)),  # an approval for another channel
)


async def _scenario(bootstrap: str, batch: list[Junk]) -> None:
    prefix = f"f{uuid.uuid4().hex[:8]}."
    await apply(bootstrap, prefix=prefix, partitions=2)
    common = CommonSettings(
        kafka_bootstrap=bootstrap, topic_prefix=prefix, session_timeout_ms=6000, heartbeat_interval_ms=1000
    )
    clock = ManualClock(START)
    async with sandbox([f"fake-{secrets.token_hex(12)}"], clock) as providers:
        # Callbacks go nowhere: this test is about what the worker reads, not what it hears back.
        config = channels_settings(providers, "http://127.0.0.1:9", [f"link-{secrets.token_hex(16)}"])
        app = ChannelApp(Channel.SMS, common, config, clock)
        task = asyncio.create_task(app.run())
        try:
            sms = DISPATCH[Channel.SMS]
            records = [(sms, key, value, headers) for _, key, value, headers in batch]
            await produce(common, [*records, (sms, GOOD.key, GOOD.value, GOOD.headers)])
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
@example(batch=[TOO_LARGE, ("invalid_json", GOOD.key, b"\x00", _headers())])  # always: the dead letter is big
def test_garbage_on_a_dispatch_topic_is_dead_lettered_and_the_next_approval_sent(
    kafka: LocalKafka, batch: list[Junk]
) -> None:
    asyncio.run(_scenario(kafka.bootstrap, batch))
