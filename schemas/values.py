"""Values of the contract, checked and normalized once, where an event is read: phone numbers in E.164, email
addresses in one case, ISO 4217 currencies with their minor units, money as exact decimals.

Every comparison of a contact point anywhere in the platform (opt-outs, consent, the debtor directory, the
audit) compares these normalized forms, so that ``+1 415-555-0100`` and ``+14155550100`` are one number.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Any

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from iso4217 import Currency as _Iso4217
from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints

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


Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$"), AfterValidator(_currency)]

_DECIMAL = re.compile(r"^[0-9]{1,14}(\.[0-9]{1,8})?$")


def _exact(value: Any) -> Any:
    # A JSON number with a fraction is a binary float: 250.1 is not 250.10. Money travels as a string
    # ("250.10") or a whole number; exponents ("1e3") and signs are refused too.
    if isinstance(value, (bool, float)):
        raise InvalidValue('money is a decimal string such as "250.10", not a JSON number with a fraction')
    if isinstance(value, str) and not _DECIMAL.match(value):
        raise InvalidValue("money is a decimal string of digits, optionally a point and decimals")
    return value


Money = Annotated[Decimal, BeforeValidator(_exact), Field(ge=0, max_digits=22, decimal_places=8)]
"""An amount of money: a non-negative decimal string (or whole number) with at most 8 decimals; an event
checks that its amounts have no more decimals than their currency (``decimals``)."""


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
