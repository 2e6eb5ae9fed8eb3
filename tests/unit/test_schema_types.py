"""The reusable field types of schemas/values.py: each one's own JSON Schema and its validation give the same
verdict on the shared table (but for the checks an event makes across its fields, such as a currency's minor
units), and money is written the way it is read."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import orjson
import pytest
from jsonschema import Draft202012Validator
from pydantic import TypeAdapter, ValidationError

from schemas.values import Money, Price, TimeZoneName, decimal_pattern
from tests.contract_cases import CASES

MONEY = TypeAdapter(Money)
ADAPTERS = {
    **dict.fromkeys(["amount_due", "total_outstanding", "amount", "outstanding_after"], MONEY),
    "cost": TypeAdapter(Price),
}
MONEY_FIELDS = set(ADAPTERS)
MONEY_CASES = [case for case in CASES if case.path[-1] in MONEY_FIELDS and not case.model_only]


def verdicts(adapter: TypeAdapter[Any], value: Any) -> dict[str, bool]:
    schema = Draft202012Validator(adapter.json_schema(), format_checker=Draft202012Validator.FORMAT_CHECKER)
    try:
        adapter.validate_python(value) if isinstance(value, Decimal) else adapter.validate_json(_json(value))
        model = True
    except ValidationError:
        model = False
    return {"schema": schema.is_valid(value), "model": model}


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


@pytest.mark.parametrize("case", MONEY_CASES, ids=lambda case: case.id)
def test_money_gives_each_money_case_its_verdict(case: Any) -> None:
    assert verdicts(ADAPTERS[str(case.path[-1])], case.value) == {"schema": case.valid, "model": case.valid}


@pytest.mark.parametrize(
    ("amount", "written"),
    [
        (Decimal("120.50"), '"120.50"'),
        (Decimal("1E+2"), '"100"'),
        (Decimal("-0"), '"0"'),
        (Decimal(0), '"0"'),
    ],
)
def test_money_is_written_in_the_spelling_it_is_read_in(amount: Decimal, written: str) -> None:
    assert MONEY.dump_json(amount).decode() == written
    assert MONEY.validate_json(written) == amount


@pytest.mark.parametrize(
    ("digits", "places", "signed", "good", "bad"),
    [
        (18, 4, False, ["0", "12345678901234.5678"], ["123456789012345", "-1", "1.23456", "01"]),
        (5, 0, True, ["-12345", "0"], ["1.5", "123456"]),
        (None, None, True, ["-123456789.123456789"], ["1e3", "+1"]),
    ],
)
def test_a_decimal_pattern_follows_its_digits_places_and_sign(
    digits: int | None, places: int | None, signed: bool, good: list[str], bad: list[str]
) -> None:
    pattern = re.compile(decimal_pattern(digits, places, signed=signed))
    assert all(pattern.match(text) for text in good)
    assert not any(pattern.match(text) for text in bad)


def test_a_time_zone_the_model_alone_checks_says_so_in_its_description() -> None:
    zone = TypeAdapter(TimeZoneName)
    assert "Checked by the model only" in zone.json_schema()["description"]
    assert zone.validate_python("America/New_York") == "America/New_York"
    assert verdicts(zone, "Mars/Olympus_Mons") == {"schema": True, "model": False}
