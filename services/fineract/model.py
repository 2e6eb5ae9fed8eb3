"""What the adapter reads of Fineract's records: frozen views of the Avro records, fields by their Fineract
names (camelCase on the wire), every one optional as Fineract declares it, and everything else ignored.

The Avro schema has already checked the types; these views only name what the translation uses, so a
field Fineract adds or a record we read but do not need costs nothing here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic.alias_generators import to_camel


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore", alias_generator=to_camel, populate_by_name=True)


class Message(_View):
    """``MessageV1``: the envelope of every record."""

    id: int
    source: str  # a UUID per Fineract process: changes at every restart, so it identifies nothing
    type: str
    category: str
    created_at: datetime
    business_date: date
    tenant_id: str
    idempotency_key: str  # stable across re-sends of the same event
    dataschema: str
    data: bytes

    @field_validator("created_at", mode="after")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        # Fineract writes the UTC time without an offset ("2024-10-24T09:52:59.123456").
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class BulkItem(_View):
    """``BulkMessageItemV1``: one event of a ``BulkBusinessEvent``, numbered from 1."""

    id: int
    type: str
    category: str
    dataschema: str
    data: bytes


class Bulk(_View):
    datas: list[BulkItem]


class Currency(_View):
    code: str | None = None
    decimal_places: int | None = None


class Status(_View):
    id: int | None = None
    code: str | None = None


class LoanSummary(_View):
    currency: Currency | None = None
    total_outstanding: Decimal | None = None


class LoanAccount(_View):
    """``LoanAccountDataV1``: the loan as a whole, carried by most loan lifecycle events."""

    id: int | None = None
    client_id: int | None = None
    loan_product_id: int | None = None
    loan_product_name: str | None = None
    status: Status | None = None
    currency: Currency | None = None  # in the REST listing; the Avro record has it in the summary only
    summary: LoanSummary | None = None


class Installment(_View):
    installment_number: int | None = None
    installment_due_date: date | None = None


class PastDue(_View):
    total_amount: Decimal | None = None


class LoanRepaymentDue(_View):
    """``LoanRepaymentDueDataV1``: one installment due or overdue, and what the loan has past due."""

    loan_id: int | None = None
    currency: Currency | None = None
    installment: Installment | None = None
    past_due_amount: PastDue | None = None


class DelinquencyRange(_View):
    id: int | None = None
    classification: str | None = None


class LoanAmount(_View):
    total_amount: Decimal | None = None


class LoanDelinquency(_View):
    """``LoanAccountDelinquencyRangeDataV1``: the loan moved into a delinquency range, or out of all."""

    loan_id: int | None = None
    delinquency_range: DelinquencyRange | None = None
    currency: Currency | None = None
    amount: LoanAmount | None = None  # the installments due before the business date, outstanding
    delinquent_date: date | None = None


class TransactionType(_View):
    id: int | None = None
    code: str | None = None
    repayment: bool | None = None


class LoanTransaction(_View):
    """``LoanTransactionDataV1``: one loan transaction."""

    id: int | None = None
    loan_id: int | None = None
    type: TransactionType | None = None
    currency: Currency | None = None
    amount: Decimal | None = None
    # Fineract's "outstanding loan balance" after the transaction: the principal still owed.
    outstanding_loan_balance: Decimal | None = None

    @property
    def is_repayment(self) -> bool:
        return self.type is not None and (self.type.repayment is True or self.type.id == REPAYMENT)


class LoanTransactionAdjustment(_View):
    """``LoanTransactionAdjustmentDataV1``: a transaction reversed, and what replaced it, if anything."""

    transaction_to_adjust: LoanTransaction | None = None
    new_transaction_detail: LoanTransaction | None = None


class Client(_View):
    """``ClientDataV1``."""

    id: int | None = None
    display_name: str | None = None
    fullname: str | None = None
    firstname: str | None = None
    middlename: str | None = None
    lastname: str | None = None
    mobile_no: str | None = None
    email_address: str | None = None


REPAYMENT = 2  # LoanTransactionType.REPAYMENT
