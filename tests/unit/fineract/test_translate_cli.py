"""The ``translate`` command as a subprocess: one answer per record, the state carried from line to line,
and events in the publish command's own line format."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson

from services.fineract import avro
from services.fineract.encode import Encoded, Encoder
from tests.unit.fineract import wire

REPO_ROOT = Path(__file__).resolve().parents[3]
ENV = {
    **{k: v for k, v in os.environ.items() if not k.startswith(("FINERACT_ADAPTER_", "COLLECTIONS_"))},
    "PYTHONPATH": str(REPO_ROOT),
}
T0 = datetime(2024, 10, 24, 9, 52, 59, 123456, tzinfo=UTC)
FINERACT = Encoder()


def line(record: Encoded | bytes) -> bytes:
    key, value = (
        (record.key, record.value) if isinstance(record, Encoded) else (b"\x00" * 7 + b"\x2a", record)
    )
    return orjson.dumps({"key": base64.b64encode(key).decode(), "value": base64.b64encode(value).decode()})


def run(lines: list[bytes], env: dict[str, str] | None = None) -> tuple[list[dict[str, Any]], str, int]:
    done = subprocess.run(
        [sys.executable, "-m", "services.fineract", "translate"],
        input=b"\n".join(lines) + b"\n",
        capture_output=True,
        cwd=REPO_ROOT,
        env={**ENV, **(env or {})},
        timeout=120,
        check=False,
    )
    return [orjson.loads(out) for out in done.stdout.splitlines()], done.stderr.decode(), done.returncode


def test_records_in_order_with_the_state_carried_from_line_to_line() -> None:
    overdue = FINERACT.overdue(42, T0, due_date=date(2024, 10, 14), past_due=Decimal("245.67"))
    answers, stderr, code = run(
        [
            line(overdue),
            line(FINERACT.loan(42, 17, T0 + timedelta(seconds=1), outstanding=Decimal("1200.5"))),
            line(FINERACT.client(17, T0, name="Alex Doe", mobile="+16175550100")),
            line(FINERACT.overdue(43, T0, due_date=date(2024, 10, 14), past_due=Decimal(10))),
            line(overdue),
            b"",
            line(
                FINERACT.repayment(
                    42, 9001, T0 + timedelta(hours=2), amount=Decimal(100), outstanding=Decimal(900)
                )
            ),
            b'{"value": "not base64!"}',
        ]
    )
    assert (code, stderr) == (0, "")
    held, released, profile, other, again, paid, bad = answers
    assert held == {"held": "unknown_loan", "loan_id": 42, "until": "2024-10-24T10:52:59.123456Z"}
    # The loan's event taught it; the overdue held before it is published now, with its own id and time.
    [event] = released["events"]
    assert event == {
        "type": "AccountOverdue",
        "id": event["id"],
        "time": "2024-10-24T09:52:59.123456Z",
        "data": {
            "debtor_id": "17",
            "account_id": "42",
            "product": "Personal Loan",
            "currency": "USD",
            "amount_due": "245.67",
            "total_outstanding": "1200.50",
            "days_past_due": 10,
            "due_date": "2024-10-14",
            "risk_score": None,
            "as_of": "2024-10-24T09:52:59.123456Z",
        },
    }
    # No tenant defaults configured: the profile carries only what Fineract sent.
    assert profile["events"][0]["data"] == {
        "debtor_id": "17",
        "name": "Alex Doe",
        "contact_points": [
            {"type": "phone", "address": "+16175550100", "consents": [], "label": None, "relation": "self"}
        ],
        "timezone": None,
        "language": "en-US",
        "jurisdictions": [],
        "flags": [],
        "inconvenient": [],
        "knowledge_factors": [],
    }
    assert other["held"] == "unknown_loan"
    assert again == {"ignored": "duplicate"}  # Fineract sent the first overdue again
    # Two hours on, the overdue of loan 43 (line 4) passed its bound: dead-lettered as the service would.
    assert paid["events"][0]["type"] == "PaymentPosted" and paid["expired"] == [4]
    assert paid["events"][0]["data"]["outstanding_after"] == "900.00"
    assert bad["error"].startswith("not base64")


def test_the_events_are_lines_the_publish_command_takes() -> None:
    records = [
        FINERACT.loan(42, 17, T0, outstanding=Decimal("1200.50")),
        FINERACT.overdue(42, T0, due_date=date(2024, 10, 14), past_due=Decimal("245.67")),
        FINERACT.reversal(42, 9001, T0, amount=Decimal(100), outstanding=Decimal(1000)),
        FINERACT.delinquency(42, T0, since=None),
        FINERACT.client(17, T0, name="Alex Doe", email="alex@example.com"),
    ]
    answers, _, _ = run([line(r) for r in records])
    events = [event for answer in answers for event in answer["events"]]
    assert [e["type"] for e in events] == [
        "AccountOverdue",
        "PaymentReversed",
        "AccountStatusChanged",
        "DebtorProfileUpdated",
    ]
    published, stderr, code = _publish_dry_run([orjson.dumps(e) for e in events])
    assert (code, stderr) == (0, ""), stderr
    assert published == "4 valid, 0 rejected"


def _publish_dry_run(lines: list[bytes]) -> tuple[str, str, int]:
    done = subprocess.run(
        [sys.executable, "-m", "services.cli", "publish", "-", "--dry-run"],
        input=b"\n".join(lines) + b"\n",
        capture_output=True,
        cwd=REPO_ROOT,
        env=ENV,
        timeout=120,
        check=False,
    )
    return done.stdout.decode().strip(), done.stderr.decode(), done.returncode


def test_dead_letters_and_what_is_ignored_name_their_reason() -> None:
    loan = wire.event("LoanDisbursalBusinessEvent", avro.LOAN_ACCOUNT, wire.loan_account(), key="k-loan")
    records = [
        loan,
        b"\xc3\x01" + bytes.fromhex("0011223344556677") + b"\x02",
        loan[:30],
        wire.event("LoanRepaymentOverdueBusinessEvent", avro.LOAN_ACCOUNT, wire.loan_account(), key="k-type"),
        wire.event(
            "LoanRepaymentOverdueBusinessEvent",
            avro.LOAN_REPAYMENT_DUE,
            wire.repayment_due(past_due=None),
            key="k-missing",
        ),
        wire.event(
            "LoanDisbursalBusinessEvent", avro.LOAN_ACCOUNT, wire.loan_account(), tenant="b2", key="k-t"
        ),
        wire.message("SavingsDepositBusinessEvent", "x", b"junk", category="Savings", key="k-savings"),
    ]
    answers, _, code = run([line(r) for r in records])
    assert code == 0
    assert answers[0] == {"events": []}  # the loan is learned: nothing to publish
    assert [a.get("dead_letter") for a in answers[1:5]] == [
        "unknown_fingerprint",
        "truncated",
        "unknown_type",
        "missing_field",
    ]
    assert "fingerprint 0011223344556677" in answers[1]["error"]
    assert answers[5:] == [{"ignored": "other_tenant"}, {"ignored": "savings"}]


def test_the_tenants_defaults_come_from_the_adapters_settings() -> None:
    client = FINERACT.client(17, T0, name="Alex Doe", mobile="(617) 555-0100")
    [answer], _, _ = run(
        [line(client)],
        {
            "FINERACT_ADAPTER_TIMEZONE": "America/New_York",
            "FINERACT_ADAPTER_JURISDICTIONS": "US,US-MA",
            "FINERACT_ADAPTER_PHONE_REGION": "US",
            "FINERACT_ADAPTER_PHONE_CONSENTS": "sms",
        },
    )
    data = answer["events"][0]["data"]
    assert (data["timezone"], data["jurisdictions"]) == ("America/New_York", ["US", "US-MA"])
    assert data["contact_points"][0] == {
        "type": "phone",
        "address": "+16175550100",
        "consents": ["sms"],
        "label": None,
        "relation": "self",
    }


def test_bad_settings_are_one_line_and_exit_2() -> None:
    answers, stderr, code = run([], {"FINERACT_ADAPTER_TIMEZONE": "Mars/Olympus"})
    assert (answers, code) == ([], 2)
    assert len(stderr.splitlines()) == 1 and "FINERACT_ADAPTER_TIMEZONE" in stderr
