"""What-if replay for collections managers: a strategy over recorded or hand-written events, no broker.

It runs the service's own handler on the runtime over an in-memory log (events applied in time order, each
``ce_id`` once, scheduled work run at its due instant before any later event), on a simulated clock, and
reports the contacts and escalations the strategy would produce, per day, with a summary. The gatekeeper is
not consulted: timing within allowed hours and caps is its job, not the strategy's, and every escalation the
strategy asks for is taken as allowed.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TextIO

from pydantic import BaseModel

from schemas import events as ev
from schemas import ids
from schemas.vocab import DecisionKind
from services.core import codec, eventlines
from services.core.clock import ManualClock
from services.core.runtime.handler import Output
from services.core.runtime.replay import Replay
from services.core.settings import load
from services.escalation.service import Escalation
from services.escalation.settings import EscalationSettings
from services.escalation.state import Case
from services.escalation.strategy import load_strategy


def allow_escalations(output: Output, at: datetime) -> list[BaseModel]:
    """The gatekeeper's answer as a what-if takes it: every escalation asked for is allowed at once."""
    request = output.event
    if not isinstance(request, ev.EscalationRequested):
        return []
    return [
        ev.ComplianceDecision(
            debtor_id=request.debtor_id,
            decision_id=ids.decision_id(request.request_id, 1),
            request_id=request.request_id,
            account_id=request.account_id,
            escalation=request.kind,
            decision=DecisionKind.ALLOW,
            strategy=request.strategy,
            arm=request.arm,
            decided_at=at,
        )
    ]


def replay(
    handler: Escalation, envelopes: Iterable[codec.Envelope[BaseModel]], until: datetime | None
) -> Replay[Case]:
    ordered = sorted(envelopes, key=lambda e: e.time)
    run: Replay[Case] = Replay(handler, respond=allow_escalations)
    for envelope in ordered:
        run.feed(envelope, envelope.time)
    if ordered:
        run.run_until(until or ordered[-1].time + timedelta(days=60))
    return run


def report(run: Replay[Case], out: TextIO) -> None:
    by_day: dict[str, list[str]] = defaultdict(list)
    summary: Counter[str] = Counter()
    for when, output in run.produced:
        event = output.event
        at = when.astimezone(UTC)
        day = at.date().isoformat()
        if isinstance(event, ev.ContactRequested):
            by_day[day].append(
                f"  {at:%H:%M}Z contact   {event.debtor_id:10} {event.account_id:10} "
                f"{event.channel.value:5} {event.template:16} step={event.step} arm={event.arm}"
            )
            summary[f"contacts {event.channel.value}"] += 1
            summary[f"arm {event.arm}"] += 1
        elif isinstance(event, ev.EscalationRaised | ev.EscalationRequested):
            by_day[day].append(
                f"  {at:%H:%M}Z escalate  {event.debtor_id:10} {event.account_id:10} "
                f"{event.kind.value} ({event.reason})"
            )
            summary[f"escalations {event.kind.value}"] += 1
        elif isinstance(event, ev.ContactCancelled):
            by_day[day].append(
                f"  {at:%H:%M}Z cancel    {event.debtor_id:10} {event.account_id:10} "
                f"{len(event.request_ids)} pending ({event.reason.value})"
            )
            summary["cancellations"] += 1
    for day in sorted(by_day):
        print(day, file=out)
        for line in by_day[day]:
            print(line, file=out)
    print("\nsummary", file=out)
    for name, count in sorted(summary.items()):
        print(f"  {name:32} {count:>7}", file=out)


def run(args: argparse.Namespace) -> int:
    settings = load(EscalationSettings)
    strategy = load_strategy(args.strategy or settings.strategy)
    with args.events.open(encoding="utf-8") as handle:
        good, bad = eventlines.parse(handle, ManualClock(datetime.fromisoformat("2000-01-01T00:00:00+00:00")))
    for rejected in bad:
        print(f"{args.events}: line {rejected.line}: {rejected.error}", file=sys.stderr)
    if bad:
        return 1
    envelopes = [codec.decode(p.encoded.key, p.encoded.value, p.encoded.headers) for p in good]
    handler = Escalation(strategy, settings.payment_link_base)
    until = args.until if args.until is None or args.until.tzinfo else None
    run = replay(handler, envelopes, until)
    try:
        report(run, sys.stdout)
    finally:
        run.close()
    return 0
