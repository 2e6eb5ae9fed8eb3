"""The whole platform as processes, for fault tests: the demo's ``Stack`` and ``Simulation``
(devtools/demo.py) in the test's own directory with a small seeded population, hooks that act on it while it
is busy, and what the event log and the provider sandboxes hold once the days are played. The checks the
fault tests share are here too, so that each guarantee is stated once.

How a request ends (docs/guarantees.md, promise 4: sent, failed, blocked, expired), by its ``final`` outcomes:

- **sent**: the provider accepted it (``services.reporting.sends.ACCEPTED``: delivered, undelivered, sent
  for email, a placed call's result, ...);
- **failed**: refused at creation, or after the retry bound (``failed``, ``opted_out``), a call that never
  connected (``not_connected``), or ``unknown``: a claim whose fate the worker cannot learn (an SMTP relay
  cannot be asked) ends so and is never resent;
- **blocked**: by the gatekeeper (``blocked``, ``cancelled``); **expired**: past its window (``expired``).

A request killed between approval and send has no final outcome yet when its worker dies: the approval's
offset is not committed, so the next owner reads it again. Its ledger entry says what happened: none
(nothing was claimed, so nothing sent: it is sent now), finished (not sent again; its outcome is published
again with the same id), or claimed (after the claim's lease the provider is asked: found is ``sent``,
certainly absent is a new attempt, an email is ``unknown``).
Either way it ends with one final outcome. Two states are not ends but not losses either: a request still
deferred past the end of the run (``waiting``), and a provider-accepted SMS or call whose final status
report the provider could not deliver because the webhooks service was down for longer than the sandbox's
retries of a status callback last (``unconfirmed``).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel

from devtools.demo import Hooks, Options, Simulation, Stack, population
from devtools.localkafka import free_port
from devtools.processes import Service
from schemas import events as ev
from schemas.vocab import Channel, DecisionKind, OutcomeStatus
from services.channels.drivers import message_id
from services.core.codec import Envelope
from services.core.runtime import clients
from services.core.settings import CommonSettings
from services.core.signing import ApprovalVerifier
from services.reporting import provenance
from services.reporting.audit import AuditResult, audit
from services.reporting.reader import read_records
from services.reporting.sends import ACCEPTED
from services.simulator.population import Debtor

SIZE = 150
SEED = 7
MAIL_DOMAIN = "bank.example"  # of the workers' default sender, and so of every Message-ID
S = OutcomeStatus
ENDS: dict[OutcomeStatus, str] = {
    **dict.fromkeys(ACCEPTED, "sent"),
    S.FAILED: "failed",
    S.OPTED_OUT: "failed",
    S.NOT_CONNECTED: "failed",
    S.UNKNOWN: "failed",
    S.BLOCKED: "blocked",
    S.CANCELLED: "blocked",
    S.EXPIRED: "expired",
}
# Failure detection faster than production's: a killed member leaves its group after 6 s (the broker's
# minimum would allow less, but heartbeats of a busy process on 2 cores can lag by seconds).
FAST: dict[str, str] = {"COLLECTIONS_SESSION_TIMEOUT_MS": "6000", "COLLECTIONS_HEARTBEAT_INTERVAL_MS": "1000"}
CHANNELS = tuple(f"channels-{c.value}" for c in Channel)
CONSUMERS = ("gatekeeper", "escalation", *CHANNELS)

E = TypeVar("E", bound=BaseModel)


@dataclass(frozen=True)
class Played:
    """What the topics and the provider sandboxes hold once the days were played."""

    at: datetime
    log: list[Envelope[BaseModel]]
    audited: AuditResult  # the independent audit of the topics, provenance included
    messages: list[dict[str, Any]]  # outbound messages the Twilio sandbox created
    calls: list[dict[str, Any]]
    mail: list[dict[str, Any]]

    def records(self, kind: type[E]) -> list[E]:
        """Every record of ``kind`` on the topics, redeliveries included."""
        return [e.event for e in self.log if isinstance(e.event, kind)]

    def events(self, kind: type[E]) -> list[E]:
        """Each event of ``kind`` once (by ``ce_id``, as consumers apply them)."""
        unique = {e.id: e.event for e in self.log if isinstance(e.event, kind)}
        return list(unique.values())


class Platform:
    """A ``Stack`` of every process on its own broker in ``root``, and the debtors it will play."""

    def __init__(
        self,
        root: Path,
        *,
        days: int,
        size: int = SIZE,
        seed: int = SEED,
        env: Mapping[str, Mapping[str, str]] | None = None,
        core: str = Options.core,
    ) -> None:
        self.stack = Stack.build(Options(size=size, days=days, seed=seed, out=root, core=core))
        for name, service in self.stack.services.items():
            service.env.update(FAST if name != "sandbox" else {})
            service.env.update((env or {}).get(name, {}))
        self.debtors: list[Debtor] = population(self.stack.options)

    @property
    def settings(self) -> CommonSettings:
        """The admin's settings, once the broker has made its credentials."""
        return self.stack.kafka.settings("admin")

    async def __aenter__(self) -> Platform:
        try:
            await asyncio.to_thread(self.stack.start)  # LocalKafka waits with its own event loop
        except BaseException:
            await asyncio.to_thread(self.stack.stop)
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stack.stop)

    @property
    def logs(self) -> Path:
        return self.stack.options.out / "logs"

    def service(self, name: str) -> Service:
        return self.stack.services[name]

    def secrets(self) -> list[str]:
        """The Twilio auth token and the link signing key this stack generated."""
        return [
            self.service("sandbox").env["SANDBOX_AUTH_TOKENS"],
            self.service("webhooks").env["WEBHOOKS_LINK_SIGNING_KEYS"],
        ]

    def second(self, name: str, instance: str) -> Service:
        """Another process of the service ``name``, same settings, its own instance name and metrics port."""
        first = self.service(name)
        env = first.env | {"COLLECTIONS_INSTANCE": instance, "COLLECTIONS_METRICS_PORT": str(free_port())}
        return Service(instance, first.args, env, first.ready_marker, first.log_dir)

    async def kill_and_restart(self, name: str) -> None:
        service = self.service(name)
        await asyncio.to_thread(service.kill)
        await asyncio.to_thread(service.start)

    async def play(self, hooks: Hooks | None = None) -> Played:
        simulation = Simulation(self.stack, self.debtors, hooks)
        await simulation.run()
        for name, service in self.stack.services.items():
            assert service.alive(), f"{name} died during the run:\n{service.tail()}"
        records = await read_records(self.settings)
        log = [record.envelope for record in records]
        audited = audit(*provenance.check(records, ApprovalVerifier([self.stack.approval_key])))
        control = {"Authorization": f"Bearer {self.service('sandbox').env['SANDBOX_ADMIN_TOKEN']}"}
        async with httpx.AsyncClient(base_url=self.stack.sandbox_url, timeout=30, headers=control) as http:
            messages = (await http.get("/_sandbox/messages")).json()["messages"]
            calls = (await http.get("/_sandbox/calls")).json()["calls"]
            mail = (await http.get("/_sandbox/mail")).json()["mail"]
        outbound = [m for m in messages if m["direction"] == "outbound-api"]
        return Played(simulation.now, log, audited, outbound, calls, mail)


# ---- acting while the pipeline is busy ---------------------------------------------------------------


async def work_in_hand(simulation: Simulation, service: str, timeout: float = 5.0) -> str | None:
    """Wait until ``service`` is in the middle of work: records of its group not yet committed and, for a
    channel worker, a send at the provider since the wait began; for the webhooks service, callbacks on their
    way to it. Returns what was seen, or None when the pipeline went idle or ``timeout`` passed first."""
    http, stepper = simulation.http, simulation.stepper
    before = await _provider_counts(http)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if service == "webhooks":
            pending = (await http.get("/_sandbox/idle")).json()["pending_callbacks"]
            if pending:
                return f"{pending} callbacks pending"
        else:
            lag = (await stepper.lagging()).get(service, 0)
            if lag > 0 and service in CHANNELS:
                channel = service.removeprefix("channels-")
                sent = (await _provider_counts(http))[channel] - before[channel]
                if sent > 0:
                    return f"lag {lag}, {sent} {channel} sent meanwhile"
            elif lag > 0:
                return f"lag {lag}"
        if await stepper.idle():
            return None
        await asyncio.sleep(0.02)
    return None


async def wait_for_members(
    settings: CommonSettings, group: str, members: set[str], timeout: float = 60.0
) -> None:
    """Wait until consumer group ``group`` is stable with exactly ``members`` (client ids, the services'
    instance names): a rebalance has ended."""
    admin = clients.admin(settings, "tests")
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while True:
            [response] = await admin.describe_consumer_groups([group])
            [(_, _, state, _, _, described)] = response.groups
            seen = {member[1] for member in described}
            if state == "Stable" and seen == members:
                return
            assert time.monotonic() < deadline, f"group {group} is {state} with {seen}, expected {members}"
            await asyncio.sleep(0.1)
    finally:
        await admin.close()


async def _provider_counts(http: httpx.AsyncClient) -> dict[str, int]:
    messages = (await http.get("/_sandbox/messages")).json()["messages"]
    calls = (await http.get("/_sandbox/calls")).json()["calls"]
    mail = (await http.get("/_sandbox/mail")).json()["mail"]
    return {
        "sms": sum(1 for m in messages if m["direction"] == "outbound-api"),
        "voice": len(calls),
        "email": len(mail),
    }


# ---- the checks --------------------------------------------------------------------------------------


@dataclass
class Ends:
    """How each request of the run ended (see the module docstring)."""

    ended: dict[str, str] = field(default_factory=dict)  # request id -> sent, failed, blocked, expired
    final: dict[str, OutcomeStatus] = field(default_factory=dict)
    twice: dict[str, list[OutcomeStatus]] = field(default_factory=dict)  # more than one final outcome
    waiting: set[str] = field(default_factory=set)
    unconfirmed: set[str] = field(default_factory=set)
    lost: dict[str, str] = field(default_factory=dict)  # request id -> the last thing known of it

    def count(self) -> Counter[str]:
        return Counter(self.ended.values())


def ends(played: Played) -> Ends:
    outcomes: defaultdict[str, list[ev.ContactOutcome]] = defaultdict(list)
    for outcome in played.events(ev.ContactOutcome):
        outcomes[outcome.request_id].append(outcome)
    decisions: defaultdict[str, list[ev.ComplianceDecision]] = defaultdict(list)
    for decision in played.events(ev.ComplianceDecision):
        decisions[decision.request_id].append(decision)
    result = Ends()
    for request in played.events(ev.ContactRequested):
        rid = request.request_id
        finals = [o for o in outcomes[rid] if o.final]
        if len(finals) > 1:
            result.twice[rid] = [o.status for o in finals]
        if finals:
            result.final[rid] = finals[0].status
            result.ended[rid] = ENDS[finals[0].status]
            continue
        # One debtor's decisions are on one partition, so the log keeps them in the order they were made.
        latest = decisions[rid][-1] if decisions[rid] else None
        if (
            latest is not None
            and latest.decision is DecisionKind.DEFER
            and latest.not_before is not None
            and latest.not_before > played.at
        ):
            result.waiting.add(rid)
        elif any(o.status in ACCEPTED for o in outcomes[rid]):
            result.unconfirmed.add(rid)
        else:
            known = [o.status.value for o in outcomes[rid]]
            result.lost[rid] = ",".join(known) or (latest.decision.value if latest else "undecided")
    return result


def undelivered_reports(played: Played) -> set[str]:
    """Request ids whose final status report the Twilio sandbox could not deliver to the webhooks."""
    return {
        item["request_id"]
        for item in (*played.messages, *played.calls)
        if any(cb["kind"] == "status" and cb["http_status"] != 200 for cb in item["callbacks"])
    }


def check_every_request_ends_once(played: Played, *, reports_lost: Iterable[str] = ()) -> Ends:
    """Every request has exactly one final outcome, or is still deferred past the end of the run, or (only
    for ``reports_lost``) was accepted by the provider whose final report never reached the webhooks."""
    result = ends(played)
    assert result.twice == {}, f"requests with more than one final outcome: {result.twice}"
    assert result.lost == {}, f"requests that ended nowhere: {result.lost}"
    unexplained = result.unconfirmed - set(reports_lost)
    assert unexplained == set(), f"accepted without a final report, none lost: {sorted(unexplained)}"
    assert result.ended, "no request ended at all"
    return result


def check_nothing_twice_at_the_providers(played: Played) -> None:
    """No request id reached the Twilio sandbox (messages, calls) or the SMTP sandbox twice."""
    requested = {r.request_id for r in played.events(ev.ContactRequested)}
    for kind, items in (("message", played.messages), ("call", played.calls)):
        per_request = Counter(item["request_id"] for item in items)
        assert {rid: n for rid, n in per_request.items() if n > 1} == {}, f"{kind}s sent twice"
        assert set(per_request) <= requested, f"{kind}s for no request: {set(per_request) - requested}"
    emails = {
        message_id(r.request_id, MAIL_DOMAIN): r.request_id
        for r in played.events(ev.ContactRequested)
        if r.channel is Channel.EMAIL
    }
    per_mail = Counter(item["message_id"] for item in played.mail)
    assert {emails.get(mid, mid): n for mid, n in per_mail.items() if n > 1} == {}, "emails sent twice"
    assert set(per_mail) <= set(emails), "mail with a Message-ID of no request"


def check_audit_clean(played: Played) -> int:
    lines = [v.line() for v in played.audited.violations]
    assert lines == [], "the audit found:\n" + "\n".join(lines)
    return played.audited.sends


def summary(played: Played, result: Ends, *extra: str) -> str:
    counts = ", ".join(f"{n} {end}" for end, n in sorted(result.count().items()))
    return (
        f"{len(played.events(ev.ContactRequested))} requests: {counts}, {len(result.waiting)} waiting, "
        f"{len(result.unconfirmed)} unconfirmed; providers got {len(played.messages)} sms, "
        f"{len(played.mail)} email, {len(played.calls)} calls" + "".join(f"; {line}" for line in extra)
    )
