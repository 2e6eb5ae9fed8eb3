"""Generate the committed JSON Schemas (``schemas/json/``) and AsyncAPI 3.0 document from the models.

``python -m schemas.generate`` rewrites them; ``--check`` exits 1 if the committed files have drifted.

The schemas describe the models as the platform reads a record (``schemas.wire.read``: strictly), written by
kind of field so that a field gets the same schema whichever model it is in: a constrained ``Decimal`` is a
decimal string of at most so many digits and places (pydantic's default, a number or any string, let "abc"
through), and an aware date-time must carry its UTC offset.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from schemas.events import ALL_EVENTS
from schemas.topics import TOPIC_EVENTS
from schemas.values import decimal_pattern

HERE = Path(__file__).resolve().parent
JSON_DIR = HERE / "json"
ASYNCAPI = HERE / "asyncapi.json"

_INBOUND_TOPIC = "collections.account.v1"
SCHEMA_FORMAT = "application/schema+json;version=2020-12"
# What pydantic reads as an aware date-time: a date, a time to the minute or finer, and an offset.
AWARE_DATETIME_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]+)?)?"
    r"([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)$"
)
_HEADERS = {
    "type": "object",
    "description": "CloudEvents 1.0, Kafka protocol binding, binary content mode",
    "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_time"],
    "properties": {
        "ce_specversion": {"type": "string", "const": "1.0"},
        "ce_id": {"type": "string", "description": "Idempotency key: consumers apply each ce_id once"},
        "ce_source": {"type": "string"},
        "ce_type": {"type": "string", "description": "collections.<EventName>.v1"},
        "ce_time": {"type": "string", "format": "date-time"},
        "ce_subject": {"type": "string", "description": "The record key: the debtor id"},
        "content-type": {"type": "string", "const": "application/json"},
    },
}


def json_schemas() -> dict[str, bytes]:
    return {f"{model.__name__}.schema.json": _dump(_schema(model)) for model in ALL_EVENTS}


class ContractSchema(GenerateJsonSchema):
    """Pydantic's JSON Schema, with the kinds of field whose default schema says less than the model."""

    def decimal_schema(self, schema: core_schema.DecimalSchema) -> JsonSchemaValue:
        lower = schema.get("ge", schema.get("gt"))
        signed = lower is None or lower < 0
        pattern = decimal_pattern(schema.get("max_digits"), schema.get("decimal_places"), signed=signed)
        return {"type": "string", "pattern": pattern}

    def datetime_schema(self, schema: core_schema.DatetimeSchema) -> JsonSchemaValue:
        found = super().datetime_schema(schema)
        if schema.get("tz_constraint") == "aware":
            found["pattern"] = AWARE_DATETIME_PATTERN
        return found


def _schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(mode="validation", schema_generator=ContractSchema)
    schema["$id"] = f"https://collections.example/schemas/{model.__name__}.schema.json"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema


def asyncapi() -> bytes:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for topic, models in TOPIC_EVENTS.items():
        channel_id = topic.replace(".", "_")
        refs = {}
        for model in models:
            messages[model.__name__] = {
                "name": model.__name__,
                "title": model.__name__,
                "summary": (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else model.__name__,
                "contentType": "application/json",
                "headers": _HEADERS,
                "payload": {
                    "schemaFormat": SCHEMA_FORMAT,
                    "schema": {"$ref": f"./json/{model.__name__}.schema.json"},
                },
            }
            refs[model.__name__] = {"$ref": f"#/components/messages/{model.__name__}"}
        channels[channel_id] = {"address": topic, "messages": refs}
        action = "receive" if topic == _INBOUND_TOPIC else "send"
        operations[f"{action}_{channel_id}"] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": "Published by core banking, read by the platform"
            if action == "receive"
            else "Published by the platform",
        }
    doc = {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Collections outreach platform events",
            "version": "1.0.0",
            "description": "Topics, keys and events of the platform. Records are keyed by debtor id; "
            "the value is the JSON event, attributes are CloudEvents ce_* headers.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }
    return _dump(doc)


def expected_files() -> dict[Path, bytes]:
    files = {JSON_DIR / name: body for name, body in json_schemas().items()}
    files[ASYNCAPI] = asyncapi()
    return files


def drifted() -> list[Path]:
    """Generated files whose committed content differs from the models (or that are missing/extra)."""
    expected = expected_files()
    stale = [path for path, body in expected.items() if not path.exists() or path.read_bytes() != body]
    extra = [path for path in JSON_DIR.glob("*.json") if path not in expected]
    return stale + extra


def _dump(doc: dict[str, Any]) -> bytes:
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schemas.generate", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the committed files drifted")
    args = parser.parse_args(argv)
    if args.check:
        stale = drifted()
        for path in stale:
            print(f"drifted: {path}", file=sys.stderr)
        return 1 if stale else 0
    JSON_DIR.mkdir(exist_ok=True)
    for path in JSON_DIR.glob("*.json"):
        path.unlink()
    for path, body in expected_files().items():
        path.write_bytes(body)
    print(f"wrote {len(expected_files())} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
