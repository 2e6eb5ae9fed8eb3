"""The event contract: codec round trips, tolerant inbound models, strict internal ones, drift."""

from __future__ import annotations

import uuid

import orjson
import pytest

from schemas import events as ev
from schemas import ids
from schemas.events import ALL_EVENTS
from schemas.generate import drifted
from schemas.topics import TOPIC_EVENTS
from services.core import codec
from services.core.catalog import load_catalog
from tests.factories import T0, samples


def test_every_event_has_a_sample_and_a_topic() -> None:
    assert {type(s) for s in samples()} == set(ALL_EVENTS)
    on_topics = {model for models in TOPIC_EVENTS.values() for model in models}
    assert on_topics == set(ALL_EVENTS)


@pytest.mark.parametrize("event", samples(), ids=lambda e: type(e).__name__)
def test_codec_round_trip(event: object) -> None:
    enc = codec.encode(event, source="/tests", time=T0, id="id-1")  # type: ignore[arg-type]
    env = codec.decode(enc.key, enc.value, enc.headers)
    assert env.event == event
    assert (env.id, env.source, env.time) == ("id-1", "/tests", T0)
    assert dict(enc.headers)["ce_specversion"] == b"1.0"
    assert dict(enc.headers)["content-type"] == b"application/json"


def test_inbound_events_ignore_unknown_fields_internal_ones_refuse_them() -> None:
    overdue, *_ = samples()
    body = orjson.loads(overdue.model_dump_json()) | {"loan_officer": "x"}
    assert ev.AccountOverdue.model_validate_json(orjson.dumps(body)) == overdue
    requested = next(s for s in samples() if isinstance(s, ev.ContactRequested))
    enc = codec.encode(requested, source="/t", time=T0)
    with pytest.raises(codec.DecodeError) as err:
        codec.decode(enc.key, orjson.dumps(orjson.loads(enc.value) | {"extra": 1}), enc.headers)
    assert err.value.reason == "schema_violation"


def test_money_is_decimal_and_times_must_be_aware() -> None:
    overdue = samples()[0]
    body = orjson.loads(overdue.model_dump_json())
    assert body["amount_due"] == "120.50"  # serialized exactly, never as a float
    body["as_of"] = "2026-06-10T15:30:00"
    with pytest.raises(ValueError, match="timezone"):
        ev.AccountOverdue.model_validate_json(orjson.dumps(body))


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda k, v, h: (k, b"{not json", h), "invalid_json"),
        (lambda k, v, h: (k, b'{"debtor_id": "d-1"}', h), "schema_violation"),
        (
            lambda k, v, h: (k, v, [(n, b"collections.Nope.v1" if n == "ce_type" else x) for n, x in h]),
            "unknown_type",
        ),
        (lambda k, v, h: (k, v, [(n, x) for n, x in h if n != "ce_id"]), "missing_header"),
        (lambda k, v, h: (b"someone-else", v, h), "key_mismatch"),
        (lambda k, v, h: (k, b" " * (codec.MAX_VALUE_BYTES + 1), h), "too_large"),
    ],
)
def test_decode_errors_carry_a_reason(mutate, reason) -> None:  # type: ignore[no-untyped-def]
    enc = codec.encode(samples()[1], source="/t", time=T0)
    key, value, headers = mutate(enc.key, enc.value, enc.headers)
    with pytest.raises(codec.DecodeError) as err:
        codec.decode(key, value, headers)
    assert err.value.reason == reason


def test_schema_violation_message_does_not_echo_personal_data() -> None:
    enc = codec.encode(samples()[4], source="/t", time=T0)
    body = orjson.loads(enc.value)
    body["contact_points"][0]["address"] = 12345678901
    with pytest.raises(codec.DecodeError) as err:
        codec.decode(enc.key, orjson.dumps(body), enc.headers)
    assert "12345678901" not in str(err.value)


def test_catalog_lists_every_contract_topic_with_fixed_partitions() -> None:
    catalog = load_catalog()
    names = {t.name for t in catalog.topics}
    assert set(TOPIC_EVENTS) <= names
    for topic in TOPIC_EVENTS:
        spec = catalog.spec(topic)
        if topic not in {"collections.control.v1", "collections.deadletter.v1"}:
            assert catalog.partitions(spec) == 12, topic
    for audit in ("collections.compliance.decisions.v1", "collections.contact.outcomes.v1"):
        assert int(catalog.configs(catalog.spec(audit))["retention.ms"]) >= 3 * 365 * 86_400_000
    assert (
        int(catalog.configs(catalog.spec("collections.deadletter.v1"))["max.message.bytes"])
        >= 2 * 1024 * 1024
    )


def test_committed_schemas_match_the_models() -> None:
    assert drifted() == [], "run `make schemas` (python -m schemas.generate) and commit the result"


def test_drift_is_detected(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydantic import create_model

    from schemas import generate

    changed = create_model("PaymentPosted", __base__=ev.PaymentPosted, channel_hint=(str, "x"))
    monkeypatch.setattr(
        generate, "ALL_EVENTS", tuple(changed if m is ev.PaymentPosted else m for m in ALL_EVENTS)
    )
    assert any(p.name == "PaymentPosted.schema.json" for p in generate.drifted())


@pytest.mark.parametrize("parts", [("decision", "r-1", "1"), ("approval", "r-1"), ("reply", "链接", ""), ()])
def test_deterministic_ids_are_the_uuid5_of_their_parts(parts: tuple[str, ...]) -> None:
    # Ids written before the hand-built UUID must stay the ids a replay produces now.
    expected = str(uuid.uuid5(ids._NAMESPACE, "\x1f".join(parts)))
    assert ids.deterministic_id(*parts) == expected
    assert uuid.UUID(expected).version == 5
