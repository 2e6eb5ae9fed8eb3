"""What-if replay for collections managers: a strategy over recorded or hand-written events, no broker.

It runs the service's own handler with the processor's semantics (events applied in time order, each
``ce_id`` once, scheduled work run at its due instant before any later event), on a simulated clock, and
reports the contacts and escalations the strategy would produce, per day, with a summary. The gatekeeper is
not consulted: timing within allowed hours and caps is its job, not the strategy's.
"""

from __future__ import annotations

import argparse
import heapq
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from prometheus_client import CollectorRegistry
from pydantic import BaseModel

from schemas import events as ev
from services.core import codec
from services.core.clock import ManualClock
from services.core.settings import ConfigError
from services.core.stateful import Output, Result
from services.escalation.metrics import EscalationMetrics
from services.escalation.service import Escalation
from services.escalation.settings import EscalationSettings
from services.escalation.state import Case
from services.escalation.strategy import load_strategy
from services.publish.__main__ import prepare


class Replay:
    """Feeds timed envelopes to a handler and runs its schedule in between, like the stateful processor."""

    def __init__(self, handler: Escalation) -> None:
        self.handler = handler
        self.states: dict[str, Case] = {}
        self.seen: dict[str, set[str]] = defaultdict(set)
        self.produced: list[tuple[datetime, Output]] = []
        self.now: datetime | None = None
        self._due: list[tuple[datetime, str]] = []

    def feed(self, envelope: codec.Envelope[BaseModel], at: datetime) -> None:
        self.run_until(at)
        self.now = at
        key = codec.key_of(envelope.event)
        if envelope.id in self.seen[key]:
            return
        self.seen[key].add(envelope.id)
        self._store(key, self.handler.apply(key, self.states.get(key), envelope, at), at)

    def run_until(self, until: datetime) -> None:
        while self._due and self._due[0][0] <= until:
            due, key = heapq.heappop(self._due)
            state = self.states.get(key)
            if state is None or state.next_due() != due:
                continue  # rescheduled or settled since
            # Work already due when it was scheduled runs at once, as the processor's next tick would.
            now = max(due, self.now) if self.now is not None else due
            self.now = now
            result = self.handler.due(key, state, now)
            if result.next_due is not None and result.next_due <= now:
                # The processor would run it again at once, forever: a handler bug, never a strategy choice.
                raise RuntimeError(f"{key}: work due at {result.next_due} still due after running at {now}")
            self._store(key, result, now)

    def _store(self, key: str, result: Result[Case], at: datetime) -> None:
        if result.state is None:
            self.states.pop(key, None)
        else:
            self.states[key] = result.state
        self.produced.extend((at, out) for out in result.outputs)
        if result.next_due is not None:
            heapq.heappush(self._due, (result.next_due, key))


def replay(
    handler: Escalation, envelopes: Iterable[codec.Envelope[BaseModel]], until: datetime | None
) -> Replay:
    ordered = sorted(envelopes, key=lambda e: e.time)
    run = Replay(handler)
    for envelope in ordered:
        run.feed(envelope, envelope.time)
    if ordered:
        run.run_until(until or ordered[-1].time + timedelta(days=60))
    return run


def report(run: Replay, out: TextIO) -> None:
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
        elif isinstance(event, ev.EscalationRaised):
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


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = __doc__
    parser.add_argument("--strategy", type=Path, help="strategy file (default ESCALATION_STRATEGY)")
    parser.add_argument(
        "--events", type=Path, required=True, help="JSON lines in the publish command's format"
    )
    parser.add_argument("--until", type=datetime.fromisoformat, help="run the schedule up to this instant")


def run(args: argparse.Namespace) -> int:
    try:
        settings = EscalationSettings()
        strategy = load_strategy(args.strategy or settings.strategy)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    with args.events.open(encoding="utf-8") as handle:
        good, bad = prepare(handle, ManualClock(datetime.fromisoformat("2000-01-01T00:00:00+00:00")))
    for rejected in bad:
        print(f"{args.events}: line {rejected.line}: {rejected.error}", file=sys.stderr)
    if bad:
        return 1
    envelopes = [codec.decode(p.encoded.key, p.encoded.value, p.encoded.headers) for p in good]
    handler = Escalation(strategy, EscalationMetrics(CollectorRegistry()), settings.payment_link_base)
    until = args.until if args.until is None or args.until.tzinfo else None
    report(replay(handler, envelopes, until), sys.stdout)
    return 0
