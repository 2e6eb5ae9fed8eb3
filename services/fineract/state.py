"""What the adapter remembers per loan, and how it is seeded from Fineract's loan listing.

Most of Fineract's loan payloads name the loan but not its client, product or balance; events that carry
the whole loan (``LoanAccountDataV1``) do, and the adapter keeps what they said. The state is keyed by
loan id (Fineract keys loan records by loan id, so a loan's records and its state share a partition).
Beside it (``LoanEntry``) are the records about the loan that arrived before anything taught it, held as
they arrived until it is learned or their bound passes. Clients need no state: each client event carries
the whole client.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from schemas.values import Currency

from .avro import FineractDecodeError
from .model import LoanAccount

PRODUCT_MAX = 64  # AccountOverdue.product
MAX_PLACES = 8  # Fineract's decimal(20, 8): no currency can have more


class LoanState(BaseModel):
    """One loan as the adapter last learned it; JSON for the changelog, keyed by ``loan_id``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    loan_id: int
    client_id: int | None  # None for a group loan: no one person to contact
    product: Annotated[str, Field(min_length=1, max_length=PRODUCT_MAX)]
    currency: Currency | None = None
    decimal_places: Annotated[int, Field(ge=0, le=MAX_PLACES)] | None = None
    outstanding: Decimal | None = None  # the loan's total outstanding (summary.totalOutstanding)
    status: int | None = None  # Fineract's loan status code: 300 active, 600 closed, ...


class Held(BaseModel):
    """A record about a loan not learned yet, byte for byte and where it came from, so that it can be
    translated once the loan is learned, or dead-lettered once ``until`` has passed."""

    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64")

    topic: str  # as it arrived (the physical name)
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    until: AwareDatetime


class LoanEntry(BaseModel):
    """The adapter's state for one loan: the loan as learned (``None`` until an event teaches it), and the
    records held for it, oldest first."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    loan: LoanState | None = None
    held: list[Held] = []

    def next_due(self) -> datetime | None:
        return min((h.until for h in self.held), default=None)


def learn(account: LoanAccount, previous: LoanState | None = None) -> LoanState:
    """The state ``account`` describes; what it leaves out is kept from ``previous``."""
    if account.id is None:
        raise FineractDecodeError("missing_field", "LoanAccountDataV1.id is null")
    summary = account.summary
    currency = account.currency or (summary.currency if summary else None)
    code = (currency.code if currency else None) or (previous.currency if previous else None)
    places = currency.decimal_places if currency else None
    if places is None and previous is not None:
        places = previous.decimal_places
    outstanding = previous.outstanding if previous else None
    if summary is not None and summary.total_outstanding is not None and places is not None:
        outstanding = quantize(summary.total_outstanding, places, "summary.totalOutstanding")
    product = account.loan_product_name or (
        str(account.loan_product_id) if account.loan_product_id is not None else None
    )
    try:
        return LoanState(
            loan_id=account.id,
            client_id=account.client_id,
            product=(product or (previous.product if previous else "unknown"))[:PRODUCT_MAX],
            currency=code,
            decimal_places=places,
            outstanding=outstanding,
            status=account.status.id if account.status else None,
        )
    except ValidationError as exc:
        fields = ", ".join(str(e["loc"][0]) for e in exc.errors()[:5])
        raise FineractDecodeError("bad_value", f"LoanAccountDataV1: {fields} refused") from exc


def quantize(value: Decimal, places: int, field: str) -> Decimal:
    """``value`` at the currency's decimal places, refusing to round away any digit that is there:
    245.67000000 at 2 places is 245.67, 245.671 at 2 places is an error."""
    if not 0 <= places <= MAX_PLACES:
        raise FineractDecodeError("bad_value", f"{field}: a currency with {places} decimal places")
    try:
        exact = value.quantize(Decimal(1).scaleb(-places))
    except InvalidOperation as exc:
        raise FineractDecodeError("bad_value", f"{field} is not an amount") from exc
    if exact != value:
        raise FineractDecodeError("too_many_decimals", f"{field} has more than {places} decimal places")
    return exact


@dataclass(frozen=True, slots=True)
class Seed:
    """The loans one page of the listing describes, and how many of its items taught nothing."""

    loans: dict[int, LoanState]
    skipped: int
    total: int | None  # Fineract's totalFilteredRecords: page on (offset, limit) until all are read


def seed_from_listing(body: bytes | str) -> Seed:
    """Read one page of ``GET /v1/loans`` (``{"totalFilteredRecords": n, "pageItems": [...]}``).

    Each item has the fields ``LoanAccountDataV1`` has for the same things (``id``, ``clientId``,
    ``loanProductId``, ``loanProductName``, ``status``, ``currency``, ``summary.totalOutstanding``); JSON
    numbers are read as decimals, never floats. Items that cannot be read are skipped and counted. A
    service seeds only the loans it has not learned from the stream, which is newer.
    """
    try:
        listing = json.loads(body, parse_float=Decimal)
    except ValueError as exc:
        raise FineractDecodeError("bad_value", "the loan listing is not JSON") from exc
    if not isinstance(listing, dict) or not isinstance(listing.get("pageItems"), list):
        raise FineractDecodeError("missing_field", "the loan listing has no pageItems")
    loans: dict[int, LoanState] = {}
    skipped = 0
    for item in listing["pageItems"]:
        state = _seed_one(item)
        if state is None:
            skipped += 1
        else:
            loans[state.loan_id] = state
    total = listing.get("totalFilteredRecords")
    return Seed(loans=loans, skipped=skipped, total=total if isinstance(total, int) else None)


def _seed_one(item: Any) -> LoanState | None:
    if not isinstance(item, dict):
        return None
    try:
        return learn(LoanAccount.model_validate(item))
    except (ValidationError, FineractDecodeError):
        return None
