"""How a record's JSON is read against its model: strictly, as the published JSON Schema says.

Strict reading takes every value in the JSON type the schema names: ``5`` and not ``"5"`` for a count, a date
and not a date-time for a day, ``true`` and not ``"yes"``, a time with its offset and not a number of
seconds. What a producer may send is then what a JSON Schema validator lets through, with the model's own
checks on top (each named in its field's description)."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


def read(model: type[M], raw: bytes | str, context: dict[str, Any] | None = None) -> M:
    """The event in ``raw``, or ``pydantic.ValidationError``; ``context`` reaches the model's validators
    (``schemas.values.EDGE``: the publish command's stricter checks)."""
    return model.model_validate_json(raw, strict=True, context=context)
