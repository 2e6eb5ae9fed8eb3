"""Good and mutated records of the contract, each with the verdict the published JSON Schema and the model (as
the platform reads a record: ``schemas.wire.read``) must both give. Shared by the schema tests and by any
command that takes events from outside (``collections publish``), so that all of them refuse the same records.

A case starts from the valid sample of its event (``tests.factories.samples``) as JSON and sets one field.
``model_only`` names a check a JSON Schema cannot make, which the field's description must say. Checks that
only the publish command makes (a loaded policy pack, a time in the future) and the values a consumer drops
rather than refuse (a phone number or time zone that does not parse) are in tests/inbound_cases.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel

from schemas import events as ev
from tests.factories import samples

# The checks only the model makes, each with the field whose description names it.
MODEL_ONLY = {
    "duplicate consents": "ContactPoint.consents",
    "no more decimals than its currency has": "AccountOverdue.amount_due",
    "an ISO 4217 currency": "AccountOverdue.currency",
}


@dataclass(frozen=True)
class Case:
    model: type[BaseModel]
    path: tuple[str | int, ...]
    value: Any
    valid: bool
    model_only: str = ""

    @property
    def id(self) -> str:
        where = ".".join(str(part) for part in self.path)
        return f"{self.model.__name__}.{where}={self.value!r}:{'good' if self.valid else 'bad'}"

    def record(self) -> dict[str, Any]:
        """The sample of ``model`` as JSON, with ``path`` set to ``value``."""
        sample = next(s for s in samples() if type(s) is self.model)
        data: Any = orjson.loads(sample.model_dump_json())
        target = data
        for part in self.path[:-1]:
            target = target[part]
        target[self.path[-1]] = self.value
        return dict(data)


def good(model: type[BaseModel], *path: str | int, value: Any) -> Case:
    return Case(model, path, value, valid=True)


def bad(model: type[BaseModel], *path: str | int, value: Any, model_only: str = "") -> Case:
    return Case(model, path, value, valid=False, model_only=model_only)


OVERDUE, OUTCOME = ev.AccountOverdue, ev.ContactOutcome
CASES: list[Case] = [
    # Money: a decimal string, no more than 14 digits before the point and 8 after, never negative, and no
    # more decimals than its currency has (the sample's is USD: 2).
    good(OVERDUE, "amount_due", value="0"),
    good(OVERDUE, "amount_due", value="120.5"),
    good(OVERDUE, "amount_due", value="99999999999999.99"),
    good(OVERDUE, "amount_due", value="245.67000000"),
    bad(OVERDUE, "amount_due", value="abc"),
    bad(OVERDUE, "amount_due", value="-1.00"),
    bad(OVERDUE, "amount_due", value="1.12345", model_only="no more decimals than its currency has"),
    bad(OVERDUE, "amount_due", value="1.123456789"),
    bad(OVERDUE, "amount_due", value="1234567890123456789"),
    bad(OVERDUE, "amount_due", value="123456789012345"),
    bad(OVERDUE, "amount_due", value=""),
    bad(OUTCOME, "cost", value="NaN"),
    bad(OUTCOME, "cost", value="0.00001"),
    bad(ev.PaymentPosted, "amount", value=5),
    bad(ev.PaymentPosted, "amount", value=5.5),
    bad(OVERDUE, "total_outstanding", value="1e2"),
    bad(OVERDUE, "total_outstanding", value="007"),
    bad(OVERDUE, "total_outstanding", value=" 5 "),
    bad(OVERDUE, "currency", value="XYZ", model_only="an ISO 4217 currency"),
    # Days: a date, not a date-time nor a timestamp.
    good(OVERDUE, "due_date", value="2026-05-29"),
    bad(OVERDUE, "due_date", value="2026-05-29T00:00:00"),
    bad(OVERDUE, "due_date", value="2026-05-29T00:00:00Z"),
    bad(OVERDUE, "due_date", value=1780012800),
    bad(OVERDUE, "due_date", value="2026-02-30"),
    # Counts: JSON integers within their bounds.
    good(OVERDUE, "days_past_due", value=1),
    good(OVERDUE, "days_past_due", value=100_000),
    bad(OVERDUE, "days_past_due", value="5"),
    bad(OVERDUE, "days_past_due", value=0),
    bad(OVERDUE, "days_past_due", value=100_001),
    bad(OVERDUE, "days_past_due", value=True),
    bad(OUTCOME, "segments", value=-1),
    bad(OUTCOME, "segments", value="2"),
    # Instants: with their UTC offset, as strings.
    good(OVERDUE, "as_of", value="2026-06-10T15:30:00+02:00"),
    good(OVERDUE, "as_of", value="2026-06-10T15:30:00.123456Z"),
    bad(OVERDUE, "as_of", value="2026-06-10T15:30:00"),
    bad(OVERDUE, "as_of", value=1781105400),
    bad(OVERDUE, "as_of", value="2026-06-10"),
    # Scores, flags, codes, ids and texts.
    good(OVERDUE, "risk_score", value=None),
    good(OVERDUE, "risk_score", value=1),
    bad(OVERDUE, "risk_score", value="0.5"),
    bad(OVERDUE, "risk_score", value=1.5),
    bad(OUTCOME, "final", value="yes"),
    bad(OUTCOME, "final", value=1),
    bad(OVERDUE, "currency", value="usd"),
    bad(OUTCOME, "channel", value="fax"),
    bad(OVERDUE, "debtor_id", value=""),
    bad(OVERDUE, "debtor_id", value="d 1"),
    bad(OVERDUE, "product", value="p" * 65),
    bad(OVERDUE, "product", value=7),
    # Unknown fields: ignored from core banking, refused inside the platform.
    good(OVERDUE, "loan_officer", value="x"),
    bad(ev.ContactRequested, "extra", value="x"),
    # Nested records.
    good(ev.DebtorProfileUpdated, "contact_points", 0, "consents", value=["sms"]),
    bad(ev.DebtorProfileUpdated, "contact_points", 0, "consents", value=["fax"]),
    bad(
        ev.DebtorProfileUpdated,
        "contact_points",
        0,
        "consents",
        value=["sms", "sms"],
        model_only="duplicate consents",
    ),
    bad(ev.DebtorProfileUpdated, "inconvenient", 0, "start", value=43200),
]
