"""The ``decide`` command: decide inputs as JSON lines on stdin, one decision or error line each on stdout.

It is the contract compliance officers and tests use, for contacts and escalations alike (docs/policy-packs.md
describes every field); a bad line yields ``{"id": ..., "error": ...}`` and the command goes on with the next
one.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

import orjson
from pydantic import ValidationError

from services.core.settings import ConfigError, format_errors, load
from services.gatekeeper.engine import decide
from services.gatekeeper.model import DecideInput, Decision
from services.gatekeeper.policy import GatekeeperError, PolicyBook
from services.gatekeeper.settings import PoliciesSettings

DEFAULT_POLICIES: Path = PoliciesSettings.model_fields["policies"].default


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--policies",
        type=Path,
        help=f"directory of policy pack TOML files (default: GATEKEEPER_POLICIES, else {DEFAULT_POLICIES})",
    )


def run(args: argparse.Namespace) -> int:
    try:
        # The service's own setting, so that decide answers with the packs the gatekeeper runs on.
        book = PolicyBook.load(args.policies or load(PoliciesSettings).policies)
    except ConfigError as exc:
        print(f"decide: {exc}", file=sys.stderr)
        return 2
    decide_lines(book, sys.stdin.buffer, sys.stdout.buffer)
    return 0


def decide_lines(book: PolicyBook, lines: Iterable[bytes], out: BinaryIO) -> None:
    # Flushed per line so that the command answers each request at once inside a pipe.
    for line in lines:
        if line.strip():
            out.write(orjson.dumps(decide_line(book, line), option=orjson.OPT_APPEND_NEWLINE))
            out.flush()


def decide_line(book: PolicyBook, line: bytes) -> dict[str, object]:
    try:
        raw = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        return {"id": None, "error": f"invalid JSON: {exc}"}
    if not isinstance(raw, dict):
        return {"id": None, "error": "a line must be a JSON object"}
    line_id = raw.get("id")
    try:
        decision = decide(DecideInput.model_validate(raw), book)
    except ValidationError as exc:
        return {"id": line_id, "error": format_errors(exc)}
    except GatekeeperError as exc:
        return {"id": line_id, "error": str(exc)}
    return {"id": line_id, **render(decision)}


def _utc(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def render(decision: Decision) -> dict[str, object]:
    """The wire form: UTC instants to the second with ``Z``; ``not_before`` only on a defer."""
    return {
        "decision": decision.decision.value,
        "not_before": _utc(decision.not_before),
        "reasons": [reason.value for reason in decision.reasons],
        "rules": decision.rules,
        "pack_versions": decision.pack_versions,
        "valid_until": _utc(decision.valid_until),
    }
