"""Command line: ``python -m services.reporting [report] [--html FILE] [--json FILE]``, ``... history
DEBTOR_ID`` and ``... audit``; settings from the ``COLLECTIONS_*`` environment (broker, topic prefix)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

import orjson
from aiokafka.errors import KafkaError
from pydantic import BaseModel

from services.core.codec import Envelope
from services.core.settings import CommonSettings, ConfigError, load
from services.reporting.audit import audit
from services.reporting.compute import compute
from services.reporting.history import history
from services.reporting.html import render_html
from services.reporting.reader import LogReadError, read_log
from services.reporting.render import audit_text, render_text

COMMANDS = ("report", "history", "audit")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(_with_default_command(list(sys.argv[1:] if argv is None else argv)))
    overrides = {
        name: value
        for name, value in (("kafka_bootstrap", args.bootstrap), ("topic_prefix", args.prefix))
        if value is not None
    }
    try:
        settings = load(CommonSettings, **overrides)
        envelopes = asyncio.run(read_log(settings))
    except (ConfigError, LogReadError, KafkaError) as exc:
        print(f"reporting: cannot read the event log: {exc}", file=sys.stderr)
        return 2
    return int(args.run(args, envelopes))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.reporting",
        description="Reports from the event log (broker and topic prefix from COLLECTIONS_* variables).",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--bootstrap", help="Kafka bootstrap servers (default: COLLECTIONS_KAFKA_BOOTSTRAP)")
    common.add_argument("--prefix", help="topic prefix (default: COLLECTIONS_TOPIC_PREFIX)")
    commands = parser.add_subparsers(dest="command", required=True)
    report = commands.add_parser(
        "report", parents=[common], help="collection effectiveness, per strategy arm and channel"
    )
    report.add_argument("--html", type=Path, help="also write a self-contained HTML file with charts")
    report.add_argument("--json", type=Path, help="also write the report and the audit as JSON")
    report.add_argument(
        "--grace-days", type=int, default=2, help="a promise is kept if paid this many days after its date"
    )
    report.set_defaults(run=_report)
    story = commands.add_parser(
        "history", parents=[common], help="one debtor's story, in time order (masked)"
    )
    story.add_argument("debtor_id")
    story.set_defaults(run=_history)
    check = commands.add_parser(
        "audit", parents=[common], help="independent compliance audit; exit 1 on any violation"
    )
    check.add_argument("--json", type=Path, help="also write the result as JSON")
    check.set_defaults(run=_audit)
    return parser


def _with_default_command(argv: list[str]) -> list[str]:
    if not argv or (argv[0] not in COMMANDS and argv[0] not in ("-h", "--help")):
        return ["report", *argv]
    return argv


def _report(args: argparse.Namespace, envelopes: list[Envelope[BaseModel]]) -> int:
    report = compute(envelopes, grace_days=args.grace_days)
    result = audit(envelopes)
    print(render_text(report, result), end="")
    if args.html:
        args.html.write_text(render_html(report, result), encoding="utf-8")
        print(f"HTML report: {args.html}")
    if args.json:
        _write_json(args.json, {"report": report, "audit": result})
        print(f"JSON report: {args.json}")
    return 0


def _history(args: argparse.Namespace, envelopes: list[Envelope[BaseModel]]) -> int:
    entries = history(envelopes, args.debtor_id)
    if not entries:
        print(f"no events about debtor {args.debtor_id}", file=sys.stderr)
        return 1
    for entry in entries:
        print(entry.line())
    return 0


def _audit(args: argparse.Namespace, envelopes: list[Envelope[BaseModel]]) -> int:
    result = audit(envelopes)
    print(audit_text(result))
    if args.json:
        _write_json(args.json, {"audit": result})
    return 1 if result.violations else 0


def _write_json(path: Path, parts: dict[str, BaseModel]) -> None:
    document = {name: part.model_dump(mode="json") for name, part in parts.items()}
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    sys.exit(main())
