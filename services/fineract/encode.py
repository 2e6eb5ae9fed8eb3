"""Fineract records as Fineract writes them: the bootstrap command's seeds, and what a simulator publishes.

Each method of ``Encoder`` returns the key and value of one record of the Fineract topic: the key an
8-byte big-endian long (the loan's or client's id), the value a ``MessageV1`` in Avro single-object encoding
with the payload nested the same way, written with the schemas the adapter reads (``avro.REGISTRY``) of one
release. Fineract sends no headers, and neither does a simulator. Money is ``Decimal`` (Fineract's
``decimal(20, 8)``), dates are dates, ``created_at`` any aware instant (written as UTC without an offset,
as Fineract does). Only the fields the adapter reads are filled in; the rest are null, which Fineract's
schemas allow.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from fastavro import schemaless_writer

from schemas.ids import deterministic_id

from . import avro
from .state import LoanState
from .translate import BULK_TYPE, SEED_TYPE

DEFAULT_RELEASE = "1.10.1"
REPAYMENT = 2  # Fineract's LoanTransactionType.REPAYMENT


@dataclass(frozen=True, slots=True)
class Encoded:
    key: bytes
    value: bytes


def record_key(aggregate_id: int | None) -> bytes:
    """Kafka's LongSerializer: 8 bytes, big-endian, signed; -1 for an event of no aggregate."""
    return (-1 if aggregate_id is None else aggregate_id).to_bytes(8, "big", signed=True)


def single_object(schema: str, record: Mapping[str, Any], release: str = DEFAULT_RELEASE) -> bytes:
    """``record`` as type ``schema`` (a full name) of ``release``: ``C3 01``, fingerprint, Avro body."""
    fingerprints = avro.REGISTRY.fingerprints(release)
    if schema not in fingerprints:
        raise ValueError(f"release {release!r} has no schema {schema} (known: {avro.REGISTRY.releases})")
    fp = bytes.fromhex(fingerprints[schema])
    known = avro.REGISTRY.get(fp)
    assert known is not None
    out = io.BytesIO()
    out.write(avro.MAGIC + fp)
    schemaless_writer(out, known.parsed, dict(record))
    return out.getvalue()


def fineract_time(instant: datetime) -> str:
    """``createdAt`` as Fineract writes it: UTC, no offset, microseconds."""
    if instant.tzinfo is None:
        raise ValueError("created_at must be timezone-aware")
    return instant.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds")


class Encoder:
    """Fineract records of one tenant, written with one release's schemas."""

    def __init__(
        self,
        tenant: str = "default",
        release: str = DEFAULT_RELEASE,
        source: str = "00000000-0000-4000-8000-00000000f1e7",
    ) -> None:
        self.tenant = tenant
        self.release = release
        self.source = source  # Fineract's is a UUID per process; the adapter ignores it

    # ---- the envelope ------------------------------------------------------------------------

    def event(
        self,
        event_type: str,
        dataschema: str,
        payload: Mapping[str, Any],
        aggregate_id: int | None,
        created_at: datetime,
        *,
        business_date: date | None = None,
        idempotency_key: str | None = None,
        category: str = "Loan",
    ) -> Encoded:
        """One event; ``idempotency_key`` defaults to one derived from the event's content and time
        (Fineract's own is a random UUID, the same when it sends the event again)."""
        data = single_object(dataschema, payload, self.release)
        return self.message(
            event_type, dataschema, data, aggregate_id, created_at, business_date, idempotency_key, category
        )

    def bulk(
        self,
        items: list[tuple[str, str, Mapping[str, Any]]],
        loan_id: int,
        created_at: datetime,
        *,
        business_date: date | None = None,
        idempotency_key: str | None = None,
    ) -> Encoded:
        """A ``BulkBusinessEvent`` of (event type, dataschema, payload) items, as the COB job sends."""
        datas = [
            {
                "id": number,
                "type": event_type,
                "category": "nocategory",
                "dataschema": schema,
                "data": single_object(schema, payload, self.release),
            }
            for number, (event_type, schema, payload) in enumerate(items, start=1)
        ]
        data = single_object(avro.BULK, {"datas": datas}, self.release)
        return self.message(
            BULK_TYPE, avro.BULK, data, loan_id, created_at, business_date, idempotency_key, "Bulk"
        )

    def message(
        self,
        event_type: str,
        dataschema: str,
        data: bytes,
        aggregate_id: int | None,
        created_at: datetime,
        business_date: date | None = None,
        idempotency_key: str | None = None,
        category: str = "Loan",
    ) -> Encoded:
        created = fineract_time(created_at)
        key = idempotency_key or deterministic_id(
            "fineract-encoder", self.tenant, event_type, str(aggregate_id), created, data.hex()
        )
        value = single_object(
            avro.MESSAGE,
            {
                "id": 1,
                "source": self.source,
                "type": event_type,
                "category": category,
                "createdAt": created,
                "businessDate": (business_date or created_at.astimezone(UTC).date()).isoformat(),
                "tenantId": self.tenant,
                "idempotencyKey": key,
                "dataschema": dataschema,
                "data": data,
            },
            self.release,
        )
        return Encoded(record_key(aggregate_id), value)

    # ---- loans -------------------------------------------------------------------------------

    def loan(
        self,
        loan_id: int,
        client_id: int | None,
        created_at: datetime,
        *,
        outstanding: Decimal | None,
        product: str = "Personal Loan",
        currency: str = "USD",
        places: int = 2,
        status: int = 300,
        event_type: str = "LoanBalanceChangedBusinessEvent",
        **envelope: Any,
    ) -> Encoded:
        """An event carrying the whole loan (created, disbursed, balance changed, status changed...)."""
        payload = loan_account(loan_id, client_id, outstanding, product, currency, places, status)
        return self.event(event_type, avro.LOAN_ACCOUNT, payload, loan_id, created_at, **envelope)

    def seed(self, loan: LoanState, created_at: datetime, **envelope: Any) -> Encoded:
        """The bootstrap command's record of a loan from the listing: learned only if no event taught it.
        Its idempotency key is derived from the loan as seeded, so seeding the same listing twice is one
        seed."""
        payload = loan_account(
            loan.loan_id,
            loan.client_id,
            loan.outstanding,
            loan.product,
            loan.currency,
            loan.decimal_places,
            loan.status,
        )
        envelope.setdefault("idempotency_key", deterministic_id("fineract-seed", loan.model_dump_json()))
        return self.event(SEED_TYPE, avro.LOAN_ACCOUNT, payload, loan.loan_id, created_at, **envelope)

    def overdue(
        self,
        loan_id: int,
        created_at: datetime,
        *,
        due_date: date,
        past_due: Decimal,
        currency: str = "USD",
        places: int = 2,
        installment: int = 1,
        **envelope: Any,
    ) -> Encoded:
        """``LoanRepaymentOverdueBusinessEvent``: days past due = business date - ``due_date``."""
        payload = {
            "loanId": loan_id,
            "loanAccountNo": account_number(loan_id),
            "currency": _currency(currency, places),
            "installment": {"installmentNumber": installment, "installmentDueDate": due_date.isoformat()},
            "pastDueAmount": {"totalAmount": past_due},
        }
        return self.event(
            "LoanRepaymentOverdueBusinessEvent",
            avro.LOAN_REPAYMENT_DUE,
            payload,
            loan_id,
            created_at,
            **envelope,
        )

    def delinquency(
        self,
        loan_id: int,
        created_at: datetime,
        *,
        since: date | None,
        amount: Decimal = Decimal(0),
        classification: str = "RANGE_1",
        currency: str = "USD",
        places: int = 2,
        **envelope: Any,
    ) -> Encoded:
        """``LoanDelinquencyRangeChangeBusinessEvent``: into a range since ``since``, or (``None``) out of
        every range, which the adapter reads as a cure."""
        payload = {
            "loanId": loan_id,
            "loanAccountNo": account_number(loan_id),
            "delinquencyRange": None if since is None else {"id": 1, "classification": classification},
            "charges": [],
            "currency": _currency(currency, places),
            "amount": {"totalAmount": amount},
            "delinquentDate": None if since is None else since.isoformat(),
        }
        return self.event(
            "LoanDelinquencyRangeChangeBusinessEvent",
            avro.LOAN_DELINQUENCY,
            payload,
            loan_id,
            created_at,
            **envelope,
        )

    def repayment(
        self,
        loan_id: int,
        transaction_id: int,
        created_at: datetime,
        *,
        amount: Decimal,
        outstanding: Decimal,
        currency: str = "USD",
        places: int = 2,
        **envelope: Any,
    ) -> Encoded:
        """``LoanTransactionMakeRepaymentPostBusinessEvent``; ``outstanding`` is the principal still owed."""
        payload = repayment(transaction_id, loan_id, amount, outstanding, currency, places, created_at)
        return self.event(
            "LoanTransactionMakeRepaymentPostBusinessEvent",
            avro.LOAN_TRANSACTION,
            payload,
            loan_id,
            created_at,
            **envelope,
        )

    def reversal(
        self,
        loan_id: int,
        transaction_id: int,
        created_at: datetime,
        *,
        amount: Decimal,
        outstanding: Decimal,
        currency: str = "USD",
        places: int = 2,
        **envelope: Any,
    ) -> Encoded:
        """``LoanAdjustTransactionBusinessEvent`` undoing repayment ``transaction_id`` with nothing in its
        place: the adapter's PaymentReversed."""
        payload = {
            "transactionToAdjust": repayment(
                transaction_id, loan_id, amount, outstanding, currency, places, created_at
            ),
            "newTransactionDetail": None,
        }
        return self.event(
            "LoanAdjustTransactionBusinessEvent",
            avro.LOAN_ADJUSTMENT,
            payload,
            loan_id,
            created_at,
            **envelope,
        )

    # ---- clients -----------------------------------------------------------------------------

    def client(
        self,
        client_id: int,
        created_at: datetime,
        *,
        name: str | None,
        mobile: str | None = None,
        email: str | None = None,
        event_type: str = "ClientActivateBusinessEvent",
        **envelope: Any,
    ) -> Encoded:
        """A client event: the adapter's DebtorProfileUpdated, with only what Fineract knows."""
        payload = {
            "id": client_id,
            "active": True,
            "displayName": name,
            "mobileNo": mobile,
            "emailAddress": email,
        }
        envelope.setdefault("category", "Client")
        return self.event(event_type, avro.CLIENT, payload, client_id, created_at, **envelope)


def loan_account(
    loan_id: int,
    client_id: int | None,
    outstanding: Decimal | None,
    product: str,
    currency: str | None,
    places: int | None,
    status: int | None,
) -> dict[str, Any]:
    """The ``LoanAccountDataV1`` fields the adapter learns a loan from."""
    return {
        "id": loan_id,
        "accountNo": account_number(loan_id),
        "clientId": client_id,
        "loanProductName": product,
        "status": None if status is None else {"id": status},
        "summary": {
            "currency": None if currency is None else _currency(currency, places),
            "totalOutstanding": outstanding,
        },
    }


def repayment(
    transaction_id: int,
    loan_id: int,
    amount: Decimal,
    outstanding: Decimal,
    currency: str,
    places: int,
    on: datetime,
) -> dict[str, Any]:
    return {
        "id": transaction_id,
        "loanId": loan_id,
        "type": {"id": REPAYMENT, "code": "loanTransactionType.repayment", "repayment": True},
        "date": on.astimezone(UTC).date().isoformat(),
        "currency": _currency(currency, places),
        "amount": amount,
        "outstandingLoanBalance": outstanding,
    }


def account_number(loan_id: int) -> str:
    """Fineract's default account number: the id, zero-padded to nine digits."""
    return f"{loan_id:09d}"


def _currency(code: str, places: int | None) -> dict[str, Any]:
    return {"code": code, "decimalPlaces": places, "inMultiplesOf": 1}
