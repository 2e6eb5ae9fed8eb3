"""Values of the contract, checked and normalized once, where an event is read: phone numbers in E.164, email
addresses in one case, ISO 4217 currencies with their minor units, money as exact decimals.

Every comparison of a contact point anywhere in the platform (opt-outs, consent, the debtor directory, the
audit) compares these normalized forms, so that ``+1 415-555-0100`` and ``+14155550100`` are one number.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from iso4217 import Currency as _Iso4217
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PlainSerializer,
    StringConstraints,
    ValidationInfo,
    WithJsonSchema,
)

# At the edge (the publish command) every value is checked strictly; a consumer is lenient only where
# leniency protects the debtor (a profile keeps its hard stops when one contact point is bad).
EDGE = "edge"


class InvalidValue(ValueError):
    """A value the contract refuses; the message names what is wrong, never the value (personal data)."""


# ---- contact points --------------------------------------------------------------------------------


def phone_e164(number: str, region: str | None = None) -> str:
    """``number`` in E.164; a national number needs ``region`` (an ISO 3166 country code)."""
    try:
        parsed = phonenumbers.parse(number, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidValue("not a phone number") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidValue("not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def email_address(address: str) -> str:
    """``address`` checked for syntax (no DNS lookup) and in lower case, the form every comparison uses."""
    try:
        checked = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidValue("not a valid email address") from exc
    return checked.normalized.lower()


def canonical_address(address: str) -> str:
    """A contact point as every comparison sees it: an email address in lower case, a phone number in E.164
    (an international one; a national number without its country stays as given, and matches nothing)."""
    if "@" in address:
        try:
            return email_address(address)
        except InvalidValue:
            return address.strip().lower()
    try:
        return phone_e164(address)
    except InvalidValue:
        return address.strip()


def region_of(jurisdiction: str) -> str | None:
    """The phone region of a jurisdiction (``US-MA`` → ``US``); None for one that is not a country (EU)."""
    country = jurisdiction.split("-", 1)[0]
    return country if country in phonenumbers.SUPPORTED_REGIONS else None


Address = Annotated[str, StringConstraints(min_length=3, max_length=254), AfterValidator(canonical_address)]
"""A contact point given by the platform itself (a destination, an opt-out's address): normalized."""


# ---- time zones ----------------------------------------------------------------------------------------


def known_zone(value: str) -> bool:
    """Whether the tz database the platform ships (the pinned tzdata package) knows ``value``."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _known_zone(value: str) -> str:
    if not known_zone(value):
        raise ValueError(f"unknown time zone {value[:64]!r}")
    return value


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
"""An IANA time zone known to the tz database the platform ships."""


# ---- currencies and money -------------------------------------------------------------------------------


def minor_units(currency: str) -> int:
    """Decimal places of ``currency`` (ISO 4217): JPY 0, USD 2, KWD 3."""
    try:
        exponent = _Iso4217(currency).exponent
    except ValueError as exc:
        raise InvalidValue("not an ISO 4217 currency") from exc
    if exponent is None:
        raise InvalidValue("an ISO 4217 code without minor units (not a currency of account)")
    return int(exponent)


def _currency(code: str) -> str:
    minor_units(code)
    return code


Currency = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    AfterValidator(_currency),
    Field(description="An ISO 4217 code such as USD. Checked by the model only: an ISO 4217 currency."),
]


def decimal_pattern(max_digits: int | None, decimal_places: int | None, *, signed: bool) -> str:
    """The plain spelling of such a decimal: no exponent, no leading zeros, no spaces, a sign only if
    negatives are allowed, at most ``decimal_places`` after the point and ``max_digits`` in all."""
    whole = None if max_digits is None else max_digits - (decimal_places or 0)
    head = "[1-9][0-9]*" if whole is None else f"[1-9][0-9]{{0,{max(whole - 1, 0)}}}"
    places = "[0-9]+" if decimal_places is None else f"[0-9]{{1,{decimal_places}}}"
    fraction = "" if decimal_places == 0 else f"(\\.{places})?"
    return f"^{'-?' if signed else ''}(0|{head}){fraction}$"


def _fixed(value: Decimal) -> str:
    # Fixed point, so that what the platform writes matches its own pattern (never '1E+2' or '-0').
    return format(value.copy_abs() if value.is_zero() else value, "f")


def _plain_decimal(pattern: str, what: str) -> Callable[[Any, ValidationInfo], Any]:
    """A decimal that travels as a JSON string in its plain spelling (``"250.10"``): a JSON number is
    refused (a producer that may write 5 may write 5.1, and a float is not exact), and so are exponents,
    signs and leading zeros. The platform's own code passes a ``Decimal`` (or an ``int``)."""
    plain = re.compile(pattern)

    def parse(value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, Decimal):
            return value
        if info.mode == "python" and isinstance(value, int) and not isinstance(value, bool):
            return Decimal(value)  # the platform's own code: an int is exact, unlike a float
        if isinstance(value, str) and plain.match(value):
            return Decimal(value)
        if isinstance(value, (int, float)):
            raise InvalidValue(f'{what} is a decimal string such as "250.10", not a JSON number')
        raise InvalidValue(f"{what} is a decimal string of digits, optionally a point and decimals")

    return parse


MONEY_PATTERN = decimal_pattern(22, 8, signed=False)
Money = Annotated[
    Decimal,
    Field(ge=0, max_digits=22, decimal_places=8),
    BeforeValidator(_plain_decimal(MONEY_PATTERN, "money")),
    PlainSerializer(_fixed, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": MONEY_PATTERN,
            "description": "A decimal string such as 250.10. Checked by the model only: no more decimals "
            "than its currency has (USD 2, JPY 0, KWD 3; trailing zeros do not count).",
        }
    ),
]
"""An amount of money: a non-negative decimal string with at most 8 decimals; an event checks that its
amounts have no more decimals than their currency has (``check_minor_units``; trailing zeros do not count)."""

PRICE_PATTERN = decimal_pattern(18, 4, signed=False)
Price = Annotated[
    Decimal,
    Field(ge=0, max_digits=18, decimal_places=4),
    BeforeValidator(_plain_decimal(PRICE_PATTERN, "a price")),
    PlainSerializer(_fixed, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": PRICE_PATTERN}),
]
"""A provider's charge for one contact: sub-cent, so not bound to the currency's minor units as money is."""


def decimals(amount: Decimal) -> int:
    """Decimal places that carry a digit: ``245.67000000`` has 2, ``250`` none."""
    exponent = amount.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def check_minor_units(currency: str, **amounts: Decimal) -> None:
    """Refuse any amount finer than ``currency`` allows (never rounded: the digits would be lost)."""
    places = minor_units(currency)
    for name, amount in amounts.items():
        if decimals(amount) > places:
            raise InvalidValue(f"{name} has more decimals than {currency} has minor units ({places})")
