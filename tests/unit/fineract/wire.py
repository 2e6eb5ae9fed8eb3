"""Fineract records as Fineract writes them, built here from the transcribed schemas with fastavro:
single-object encoding of a payload, inside a MessageV1, optionally inside a bulk."""

from __future__ import annotations

import io
from decimal import Decimal
from typing import Any

from fastavro import schemaless_writer

from services.fineract import avro

DEV = "develop-4198b0bc"
OLD = "1.10.1"
KEY = "6b1f0d2e-8c1a-4f0e-9d7b-2f4c3a1b0e55"
CREATED = "2024-10-24T09:52:59.123456"
BUSINESS = "2024-10-24"


def encode(name: str, record: dict[str, Any], release: str = DEV) -> bytes:
    fp = bytes.fromhex(avro.REGISTRY.fingerprints(release)[name])
    known = avro.REGISTRY.get(fp)
    assert known is not None
    out = io.BytesIO()
    out.write(avro.MAGIC + fp)
    schemaless_writer(out, known.parsed, record)
    return out.getvalue()


def message(
    event_type: str,
    dataschema: str,
    data: bytes,
    *,
    tenant: str = "default",
    key: str = KEY,
    category: str = "Loan",
    created: str = CREATED,
    business: str = BUSINESS,
    release: str = DEV,
) -> bytes:
    return encode(
        avro.MESSAGE,
        {
            "id": 101,
            "source": "3f0c8e1a-0000-4000-8000-000000000001",
            "type": event_type,
            "category": category,
            "createdAt": created,
            "businessDate": business,
            "tenantId": tenant,
            "idempotencyKey": key,
            "dataschema": dataschema,
            "data": data,
        },
        release,
    )


def event(event_type: str, dataschema: str, record: dict[str, Any], release: str = DEV, **kw: Any) -> bytes:
    return message(event_type, dataschema, encode(dataschema, record, release), release=release, **kw)


def bulk(items: list[tuple[str, str, dict[str, Any]]], release: str = DEV, **kw: Any) -> bytes:
    datas = [
        {
            "id": index,
            "type": event_type,
            "category": "nocategory",
            "dataschema": schema,
            "data": encode(schema, record, release),
        }
        for index, (event_type, schema, record) in enumerate(items, start=1)
    ]
    payload = encode(avro.BULK, {"datas": datas}, release)
    return message("BulkBusinessEvent", avro.BULK, payload, category="Bulk", release=release, **kw)


def currency(code: str = "USD", places: int = 2) -> dict[str, Any]:
    return {"code": code, "decimalPlaces": places, "inMultiplesOf": 1}


def loan_account(
    loan_id: int = 42,
    client_id: int | None = 17,
    *,
    status: int = 300,
    outstanding: str = "1200.50",
    product: str = "Personal Loan",
    places: int = 2,
) -> dict[str, Any]:
    return {
        "id": loan_id,
        "accountNo": "000000042",
        "status": {"id": status, "code": "loanStatusType.active", "value": "Active"},
        "clientId": client_id,
        "clientName": "Alex Doe",
        "loanProductId": 3,
        "loanProductName": product,
        "summary": {"currency": currency(places=places), "totalOutstanding": Decimal(outstanding)},
    }


def repayment_due(
    loan_id: int = 42, *, due: str = "2024-10-14", past_due: str | None = "245.67", places: int = 2
) -> dict[str, Any]:
    return {
        "loanId": loan_id,
        "loanAccountNo": "000000042",
        "currency": currency(places=places),
        "installment": {
            "installmentNumber": 3,
            "installmentDueDate": due,
            "totalAmountDue": Decimal("120.00"),
        },
        "pastDueAmount": None if past_due is None else {"totalAmount": Decimal(past_due)},
    }


def delinquency(
    loan_id: int = 42, *, in_range: bool = True, since: str | None = "2024-09-24", total: str = "245.67"
) -> dict[str, Any]:
    amount = {k: Decimal(0) for k in ("principalAmount", "interestAmount", "feeAmount", "penaltyAmount")}
    return {
        "loanId": loan_id,
        "loanAccountNo": "000000042",
        "delinquencyRange": {
            "id": 2,
            "classification": "RANGE_30",
            "minimumAgeDays": 30,
            "maximumAgeDays": 59,
        }
        if in_range
        else None,
        "charges": [],
        "currency": currency(),
        "amount": amount | {"totalAmount": Decimal(total)},
        "delinquentDate": since if in_range else None,
    }


def transaction(
    tx_id: int = 9001,
    loan_id: int = 42,
    *,
    amount: str = "100.00",
    outstanding: str = "900.00",
    type_id: int = 2,
    code: str = "loanTransactionType.repayment",
) -> dict[str, Any]:
    return {
        "id": tx_id,
        "loanId": loan_id,
        "type": {"id": type_id, "code": code, "value": "Repayment", "repayment": type_id == 2},
        "date": "2024-10-24",
        "currency": currency(),
        "amount": Decimal(amount),
        "outstandingLoanBalance": Decimal(outstanding),
    }


def client(
    client_id: int = 17, *, mobile: str | None = "+1 617 555 0100", email: str | None = "alex@example.com"
) -> dict[str, Any]:
    return {
        "id": client_id,
        "accountNo": "000000017",
        "active": True,
        "firstname": "Alex",
        "lastname": "Doe",
        "displayName": "Alex Doe",
        "mobileNo": mobile,
        "emailAddress": email,
    }
