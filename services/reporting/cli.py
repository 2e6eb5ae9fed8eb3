"""Reports from the event log: ``collections reporting report | history | audit``, and ``collections audit``.

Broker and topic prefix come from the ``COLLECTIONS_*`` settings (or ``--bootstrap`` and ``--prefix``); the
gatekeeper's public keys, with which the audit checks every approval's signature, from ``AUDIT_APPROVAL_KEYS``
(required by the audit; the report checks provenance too when they are set).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
from aiokafka.errors import KafkaError
from pydantic import BaseModel

from services.core.cli import Command, problem
from services.core.settings import CommonSettings, load
from services.core.signing import ApprovalVerifier
from services.reporting import provenance
from services.reporting.audit import AuditResult, audit
from services.reporting.compute import compute
from services.reporting.experiment import SHIPPED_STRATEGY, Experiment
from services.reporting.fx import SHIPPED_RATES, Fx
from services.reporting.history import history
from services.reporting.html import render_html
from services.reporting.provenance import LogRecord
from services.reporting.reader import LogReadError, read_records
from services.reporting.render import audit_text, render_text
from services.reporting.settings import AuditSettings


def _with_log(
    run: Callable[[argparse.Namespace, list[LogRecord]], int],
) -> Callable[[argparse.Namespace], int]:
    """Read the event log named by the settings (and the options), then run the command on it."""

    def read_then_run(args: argparse.Namespace) -> int:
        overrides = {
            name: value
            for name, value in (("kafka_bootstrap", args.bootstrap), ("topic_prefix", args.prefix))
            if value is not None
        }
        try:
            settings = load(CommonSettings, **overrides)
            records = asyncio.run(read_records(settings))
        except (LogReadError, KafkaError) as exc:
            print(f"reporting: cannot read the event log: {problem(exc) or exc}", file=sys.stderr)
            return 2
        return run(args, records)

    return read_then_run


def _log_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--bootstrap", help="Kafka bootstrap servers (default: COLLECTIONS_KAFKA_BOOTSTRAP)")
    parser.add_argument("--prefix", help="topic prefix (default: COLLECTIONS_TOPIC_PREFIX)")


def configure_report(parser: argparse.ArgumentParser) -> None:
    _log_options(parser)
    parser.add_argument("--html", type=Path, help="also write a self-contained HTML file with charts")
    parser.add_argument("--json", type=Path, help="also write the report and the audit as JSON")
    parser.add_argument(
        "--grace-days", type=int, default=2, help="a promise is kept if paid this many days after its date"
    )
    parser.add_argument(
        "--fx", type=Path, default=SHIPPED_RATES, help="dated exchange rates (default: deploy/fx/rates.toml)"
    )
    parser.add_argument("--currency", help="reporting currency (default: the rates file's currency)")
    parser.add_argument(
        "--by-currency", action="store_true", help="also show amounts as booked, per currency"
    )
    parser.add_argument(
        "--strategy",
        type=Path,
        default=SHIPPED_STRATEGY,
        help="strategy file: configured split and segments (default: deploy/strategies/standard.toml)",
    )
    parser.add_argument(
        "--split", help="configured split instead of the strategy file's: champion=80,early-voice=20"
    )


def configure_history(parser: argparse.ArgumentParser) -> None:
    _log_options(parser)
    parser.add_argument("debtor_id")


def configure_audit(parser: argparse.ArgumentParser) -> None:
    _log_options(parser)
    parser.add_argument("--json", type=Path, help="also write the result as JSON")


def _checked(records: list[LogRecord], *, required: bool) -> AuditResult:
    """The audit, with provenance when the gatekeeper's public keys are set (the audit requires them)."""
    if not required and not os.environ.get("AUDIT_APPROVAL_KEYS"):
        return audit([record.envelope for record in records])
    keys = load(AuditSettings)
    kept, found = provenance.check(records, ApprovalVerifier(keys.approval_keys))
    return audit(kept, found)


def _report(args: argparse.Namespace, records: list[LogRecord]) -> int:
    envelopes = [record.envelope for record in records]
    experiment = Experiment.load(args.strategy)
    if args.split:
        experiment = experiment.with_shares(Experiment.parse_split(args.split), "--split")
    fx = Fx.load(args.fx, args.currency)
    report = compute(envelopes, grace_days=args.grace_days, fx=fx, experiment=experiment)
    result = _checked(records, required=False)
    print(render_text(report, result, by_currency=args.by_currency), end="")
    if args.html:
        args.html.write_text(render_html(report, result, by_currency=args.by_currency), encoding="utf-8")
        print(f"HTML report: {args.html}")
    if args.json:
        _write_json(args.json, {"report": report, "audit": result})
        print(f"JSON report: {args.json}")
    return 0


def _history(args: argparse.Namespace, records: list[LogRecord]) -> int:
    entries = history([record.envelope for record in records], args.debtor_id)
    if not entries:
        print(f"no events about debtor {args.debtor_id}", file=sys.stderr)
        return 1
    for entry in entries:
        print(entry.line())
    return 0


def _audit(args: argparse.Namespace, records: list[LogRecord]) -> int:
    result = _checked(records, required=True)
    print(audit_text(result))
    if args.json:
        _write_json(args.json, {"audit": result})
    return 1 if result.violations else 0


def _write_json(path: Path, parts: dict[str, BaseModel]) -> None:
    document = {name: part.model_dump(mode="json") for name, part in parts.items()}
    path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))


REPORT = Command(
    "collection effectiveness, per strategy arm and channel", configure_report, _with_log(_report)
)
HISTORY = Command("one debtor's story, in time order (masked)", configure_history, _with_log(_history))
AUDIT = Command(
    "the independent compliance audit of the event log; exit 1 on any violation",
    configure_audit,
    _with_log(_audit),
)
COMMANDS = {"report": REPORT, "history": HISTORY, "audit": AUDIT}
