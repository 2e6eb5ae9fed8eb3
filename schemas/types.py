"""Field types of the contract whose published JSON Schema says exactly what their validation accepts.

``schemas/generate.py`` writes the same schema for any field of the same kind (a constrained ``Decimal`` is a
decimal string of that many digits and places, an aware date-time carries its offset), so these types only
add what a schema cannot know from the type alone: money refuses JSON numbers and any spelling but the plain
one, and a check only the model can make is named in the field's description.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, WithJsonSchema

MONEY_DIGITS, MONEY_PLACES = 18, 4


def decimal_pattern(max_digits: int | None, decimal_places: int | None, *, signed: bool) -> str:
    """The plain spelling of such a decimal: no exponent, no leading zeros, no spaces, a sign only if
    negatives are allowed, at most ``decimal_places`` after the point and ``max_digits`` in all."""
    whole = None if max_digits is None else max_digits - (decimal_places or 0)
    head = "[1-9][0-9]*" if whole is None else f"[1-9][0-9]{{0,{max(whole - 1, 0)}}}"
    places = "[0-9]+" if decimal_places is None else f"[0-9]{{1,{decimal_places}}}"
    fraction = "" if decimal_places == 0 else f"(\\.{places})?"
    return f"^{'-?' if signed else ''}(0|{head}){fraction}$"


MONEY_PATTERN = decimal_pattern(MONEY_DIGITS, MONEY_PLACES, signed=False)
_MONEY = re.compile(MONEY_PATTERN)


def _money_in(value: Any) -> Any:
    # A Decimal from the platform's own code goes on to the constraints; from JSON, only the plain string.
    if isinstance(value, Decimal) or (isinstance(value, str) and _MONEY.match(value)):
        return Decimal(value)
    raise ValueError(f"money is a decimal string such as '120.50', at most {MONEY_PLACES} places: {value!r}")


def _money_out(value: Decimal) -> str:
    # Fixed point, so that what the platform writes matches its own pattern (never '1E+2' or '-0').
    return format(value.copy_abs() if value.is_zero() else value, "f")


# An amount of money, never negative: a JSON string of digits with at most four decimals ("120.50"). JSON
# numbers are refused: a producer that may write 5 may write 5.1 too, and a float is not money.
Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=MONEY_DIGITS, decimal_places=MONEY_PLACES),
    BeforeValidator(_money_in),
    PlainSerializer(_money_out, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": MONEY_PATTERN}),
]


def _known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {value[:64]!r}") from exc
    return value


# An IANA time zone. Whether the platform's tz database (the pinned tzdata) knows it is a check only the model
# can make, so the schema says it in words.
TimeZoneName = Annotated[
    str,
    AfterValidator(_known_zone),
    Field(
        min_length=1,
        max_length=64,
        description="An IANA time zone such as America/New_York. Checked by the model only: the zone must "
        "be known to the platform's tz database.",
    ),
]
