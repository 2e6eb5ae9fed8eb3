"""The published JSON Schemas (schemas/json, Draft 2020-12) and the models agree: every record the model
builds validates against its schema (drawn with hypothesis), and every good or mutated record of
tests/contract_cases.py gets the same verdict from both, but for the checks only the model can make."""

from __future__ import annotations

import types
import typing
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from functools import cache
from typing import Any

import orjson
import pytest
from annotated_types import Ge, Le, MaxLen, MinLen
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from pydantic import AwareDatetime, BaseModel, ValidationError

from schemas import events as ev
from schemas import values, wire
from schemas.events import ALL_EVENTS, AccountOverdue
from schemas.generate import ASYNCAPI, JSON_DIR, SCHEMA_FORMAT
from schemas.vocab import Channel
from services.core import codec
from tests.contract_cases import CASES, MODEL_ONLY, Case
from tests.factories import T0, samples


@cache
def validator(model: type[BaseModel]) -> Draft202012Validator:
    schema = orjson.loads((JSON_DIR / f"{model.__name__}.schema.json").read_bytes())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def model_accepts(model: type[BaseModel], record: dict[str, Any]) -> bool:
    try:
        wire.read(model, orjson.dumps(record))
    except ValidationError:
        return False
    return True


# ---- (a) whatever the model builds, the schema accepts ---------------------------------------------------


# Values whose validity only a library knows (a real phone number, an ISO 4217 code, a zone in tzdata): drawn
# from known-good ones, recognised by their validator.
_KNOWN: dict[Any, st.SearchStrategy[Any]] = {
    values.canonical_address: st.sampled_from(["+14155550100", "+447400900123", "a.b@example.com"]),
    values._currency: st.sampled_from(["USD", "EUR", "GBP", "JPY", "CNY", "KWD"]),
    values._known_zone: st.sampled_from(["America/New_York", "Europe/London", "Asia/Shanghai"]),
}
_POINTS = st.one_of(
    st.builds(
        ev.ContactPoint,
        type=st.just(ev.ContactPointType.PHONE),
        address=st.sampled_from(["+14155550100", "+8613800138000", "+447400900123"]),
        consents=st.lists(st.sampled_from([Channel.SMS, Channel.VOICE]), unique=True),
    ),
    st.builds(
        ev.ContactPoint,
        type=st.just(ev.ContactPointType.EMAIL),
        address=st.sampled_from(["alex@example.com", "Sam.Lee@Mail.Example.co.uk"]),
        consents=st.lists(st.just(Channel.EMAIL), max_size=1),
    ),
)


def strategy(annotation: Any, metadata: list[Any]) -> st.SearchStrategy[Any]:
    """Values of a field from its type and pydantic's constraints on it (the model refuses the rest)."""
    for item in metadata:
        known = _KNOWN.get(getattr(item, "func", None))
        if known is not None:
            return known
        if getattr(item, "json_schema", {}).get("pattern") == values.MONEY_PATTERN:
            # Whole amounts fit every currency's minor units; the table checks the places.
            return st.decimals(min_value=0, max_value=Decimal("99999999999999"), places=0)
    if annotation is ev.ContactPoint:
        return _POINTS
    bounds = {type(m): m for m in metadata}
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        inner, *more = typing.get_args(annotation)
        return strategy(inner, [*metadata, *more])
    if origin in (typing.Union, types.UnionType):
        return st.one_of(*(strategy(arg, metadata) for arg in typing.get_args(annotation)))
    if annotation is type(None):
        return st.none()
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return instances(annotation)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        return st.sampled_from(list(annotation))
    if origin is list:
        (item,) = typing.get_args(annotation)
        return st.lists(strategy(item, []), max_size=3)
    if origin is dict:
        return st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3)
    if origin is tuple:
        return st.tuples(*(strategy(arg, []) for arg in typing.get_args(annotation)))
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        low = bounds[Ge].ge if Ge in bounds else None
        high = bounds[Le].le if Le in bounds else None
        return st.integers(min_value=low, max_value=high)
    if annotation is float:
        return st.floats(min_value=0, max_value=1) if Le in bounds else st.floats(allow_nan=False)
    if annotation is Decimal:
        return st.decimals(min_value=0, max_value=Decimal("99999999999999.9999"), places=4)
    if annotation in (datetime, AwareDatetime):
        return st.datetimes(
            min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.timezones()
        ).filter(lambda moment: moment.utcoffset() is not None)
    if annotation is date:
        return st.dates()
    if annotation is time:
        return st.times()
    if annotation is str:
        pattern = next((getattr(m, "pattern", None) for m in metadata if getattr(m, "pattern", None)), None)
        if pattern:
            return st.from_regex(pattern, fullmatch=True).filter(lambda text: len(text) <= 128)
        low = bounds[MinLen].min_length if MinLen in bounds else 0
        high = bounds[MaxLen].max_length if MaxLen in bounds else 40
        return st.text(min_size=low, max_size=min(high, 40))
    raise NotImplementedError(f"no strategy for {annotation!r}")


@cache
def instances(model: type[BaseModel]) -> st.SearchStrategy[BaseModel]:
    fields = {
        name: strategy(info.annotation, list(info.metadata)) for name, info in model.model_fields.items()
    }

    @st.composite
    def build(draw: st.DrawFn) -> BaseModel:
        values = {name: draw(field) for name, field in fields.items()}
        try:
            return model(**values)
        except ValidationError:
            assume(False)
            raise

    return build()


@pytest.mark.parametrize("model", ALL_EVENTS, ids=lambda m: m.__name__)
def test_every_record_the_model_builds_validates_against_its_published_schema(model: type[BaseModel]) -> None:
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
    @given(instances(model))
    def check(event: BaseModel) -> None:
        record = orjson.loads(event.model_dump_json())
        errors = [error.message for error in validator(model).iter_errors(record)]
        assert errors == [], record
        wire.read(model, event.model_dump_json())  # and the platform reads back what it writes

    check()


# ---- (b) the shared table: one verdict ---------------------------------------------------------------------


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in CASES if not case.model_only])
def test_the_schema_and_the_model_give_the_table_its_verdict(case: Case) -> None:
    record = case.record()
    verdicts = {"schema": validator(case.model).is_valid(record), "model": model_accepts(case.model, record)}
    assert verdicts == {"schema": case.valid, "model": case.valid}


@pytest.mark.parametrize("case", [pytest.param(case, id=case.id) for case in CASES if case.model_only])
def test_a_check_only_the_model_makes_is_named_in_its_fields_description(case: Case) -> None:
    record = case.record()
    assert validator(case.model).is_valid(record) and not model_accepts(case.model, record)
    owner, field = MODEL_ONLY[case.model_only].split(".")
    schema = orjson.loads((JSON_DIR / f"{case.model.__name__}.schema.json").read_bytes())
    owner_schema = schema if owner == case.model.__name__ else schema.get("$defs", {}).get(owner, {})
    described = owner_schema.get("properties", {}).get(field, {})
    assert case.model_only in described.get("description", "")


def test_the_table_covers_what_the_schema_once_let_through_or_refused() -> None:
    seen = {(case.path, repr(case.value)) for case in CASES}
    for path, value in [
        (("amount_due",), "abc"),
        (("amount_due",), "-1.00"),
        (("amount_due",), "1.12345"),
        (("amount_due",), "1234567890123456789"),
        (("due_date",), "2026-05-29T00:00:00"),
        (("days_past_due",), "5"),
    ]:
        assert (path, repr(value)) in seen
    assert all(case.model_only in MODEL_ONLY for case in CASES if case.model_only)


def test_asyncapi_declares_json_schema_2020_12_for_every_payload() -> None:
    document = orjson.loads(ASYNCAPI.read_bytes())
    payloads = [message["payload"] for message in document["components"]["messages"].values()]
    assert len(payloads) == len(ALL_EVENTS)
    assert SCHEMA_FORMAT == "application/schema+json;version=2020-12"
    for payload in payloads:
        assert payload["schemaFormat"] == SCHEMA_FORMAT
        assert payload["schema"]["$ref"].startswith("./json/")


def test_the_platform_reads_a_record_as_the_schema_says() -> None:
    # The runtime's codec and the publish command read through schemas.wire: "5" is not a count there, though
    # pydantic's default (lax) reading would take it.
    record = orjson.dumps(Case(AccountOverdue, ("days_past_due",), "5", valid=False).record())
    assert AccountOverdue.model_validate_json(record).days_past_due == 5
    with pytest.raises(ValidationError):
        wire.read(AccountOverdue, record)
    [sample] = [s for s in samples() if isinstance(s, AccountOverdue)]
    encoded = codec.encode(sample, source="/t", time=T0)
    body = orjson.loads(encoded.value) | {"days_past_due": "5"}
    with pytest.raises(codec.DecodeError) as refused:
        codec.decode(encoded.key, orjson.dumps(body), encoded.headers)
    assert refused.value.reason == "schema_violation"
