"""The gatekeeper as a stateful handler: turns requests and what it knows of a debtor into decisions.

It builds the decide input from its state and calls the same pure engine as the ``decide`` command, so no
rule exists twice. On top of the rules it adds what only a stream knows: a payment in full, a closure, a
cancellation or an opt-out that arrives while a request is deferred blocks it at once; operator pauses defer
requests with PAUSED until resumed; a redelivered request id is decided once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel

from schemas import events as ev
from schemas import ids
from schemas.topics import ACCOUNT, CONSENT, GATEKEEPER_STATE, OUTCOMES, REQUESTS
from schemas.vocab import (
    Channel,
    DebtorFlag,
    DecisionKind,
    OutcomeStatus,
    ReasonCode,
    RequestKind,
    TemplateTag,
)
from services.core.codec import Envelope
from services.core.runtime.handler import Count, Output, Result
from services.gatekeeper.engine import decide
from services.gatekeeper.model import (
    DebtorView,
    DecideInput,
    Decision,
    Destination,
    EscalationEntry,
    HistoryEntry,
    LocalWindow,
    RequestView,
)
from services.gatekeeper.policy import (
    GatekeeperError,
    NoVersionInForceError,
    PolicyBook,
    UnknownJurisdictionError,
)
from services.gatekeeper.state import (
    ConsentOverride,
    Deferred,
    EscalationRecord,
    GatekeeperState,
    LedgerEntry,
)

# Outcomes after which nothing was sent: the attempt leaves the ledger instead of counting against caps.
_NOT_SENT = {OutcomeStatus.EXPIRED, OutcomeStatus.CANCELLED, OutcomeStatus.BLOCKED}
_HARD_STOP = {flag.value: ReasonCode(flag.name) for flag in DebtorFlag}

# What the gatekeeper decides: a contact, or an escalation with legal effect.
Request = ev.ContactRequested | ev.EscalationRequested
Paused = Callable[[Request], bool]


class Counted(StrEnum):
    """What the handler counts; ``GatekeeperMetrics`` declares a metric for each."""

    DECISION = "decision"  # labels: decision, reason ("none" for a decision without reasons)
    DUPLICATE_REQUEST = "duplicate_request"


@dataclass(slots=True)
class _Turn:
    """One application of the handler: the instant, and what it publishes and counts."""

    now: datetime
    outputs: list[Output] = field(default_factory=list)
    counts: list[Count] = field(default_factory=list)

    def decided(self, decision: Decision) -> None:
        for reason in [str(r) for r in decision.reasons] or ["none"]:
            self.counts.append(Count(Counted.DECISION, (decision.decision.value, reason)))

    def result(self, state: GatekeeperState) -> Result[GatekeeperState]:
        return Result(state, self.outputs, state.next_due(), len(state.deferred), self.counts)


class Gatekeeper:
    """Implements ``services.core.stateful.Handler`` for the gatekeeper."""

    service = "gatekeeper"
    input_topics: tuple[str, ...] = (REQUESTS, ACCOUNT, CONSENT, OUTCOMES)
    state_topic = GATEKEEPER_STATE
    state_model = GatekeeperState

    def __init__(
        self,
        book: PolicyBook,
        paused: Paused = lambda _: False,
        tags: Callable[[str], frozenset[TemplateTag]] = lambda _: frozenset(),
    ) -> None:
        self.book = book
        self.paused = paused
        self.tags = tags  # the template catalog's tags of a template

    # ---- inputs ------------------------------------------------------------------------------

    def apply(
        self, key: str, state: GatekeeperState | None, envelope: Envelope[BaseModel], now: datetime
    ) -> Result[GatekeeperState]:
        state = (state or GatekeeperState()).pruned(now)
        event = envelope.event
        turn = _Turn(now)
        match event:
            case ev.ContactRequested() | ev.EscalationRequested():
                state = self._request(state, event, turn)
            case ev.ContactCancelled():
                cancelled = [*state.cancelled, *event.request_ids][-200:]
                state = state.model_copy(update={"cancelled": cancelled})
                state = self._end_deferred(
                    state,
                    turn,
                    ReasonCode.CANCELLED,
                    lambda r: (
                        r.request_id in event.request_ids
                        or (not event.request_ids and r.account_id == event.account_id)
                    ),
                )
            case ev.DebtorProfileUpdated():
                newer = state.profile_time is None or envelope.time >= state.profile_time
                state = _with_profile(state, event, envelope.time)
                stops = {_HARD_STOP[f] for f in event.flags if f in _HARD_STOP}
                if stops:
                    state = self._end_deferred(state, turn, sorted(stops), lambda r: True)
                if newer:
                    state = self._redecide(state, turn, lambda d: ReasonCode.PROFILE_MISSING in d.reasons)
            case ev.ConsentChanged():
                state = self._consent(state, event, turn)
            case ev.WrongPartyReported():
                state = state.model_copy(update={"wrong_party": _add(state.wrong_party, event.address)})
                state = self._end_deferred(
                    state, turn, ReasonCode.WRONG_PARTY, lambda r: r.destination == event.address
                )
            case ev.PaymentPosted() if event.paid_in_full:
                state = state.model_copy(update={"paid": _add(state.paid, event.account_id)})
                state = self._end_deferred(state, turn, ReasonCode.PAID, _account(event.account_id))
            case ev.PaymentReversed() if event.account_id in state.paid:
                # A payment undone: the account owes again. A closure that followed its payment in full is
                # undone with it (core banking reopens a loan whose closing repayment is reversed).
                state = state.model_copy(
                    update={
                        "paid": _drop(state.paid, event.account_id),
                        "closed": _drop(state.closed, event.account_id),
                    }
                )
            case ev.AccountOverdue():
                # Overdue again after a payment or closure: the account is collectable once more.
                if event.account_id in state.paid or event.account_id in state.closed:
                    state = state.model_copy(
                        update={
                            "paid": _drop(state.paid, event.account_id),
                            "closed": _drop(state.closed, event.account_id),
                        }
                    )
            case ev.AccountStatusChanged():
                state = self._status(state, event, turn)
            case ev.ContactOutcome():
                state = _record_outcome(state, event)
            case _:
                pass
        return turn.result(state)

    def due(self, key: str, state: GatekeeperState, now: datetime) -> Result[GatekeeperState]:
        """Decide again every deferred request whose time has come, under the state and packs of now."""
        turn = _Turn(now)
        state = state.pruned(now)
        state = self._redecide(state, turn, lambda d: d.not_before is not None and d.not_before <= now)
        return turn.result(state)

    def wake_paused(self, key: str, state: GatekeeperState, now: datetime) -> Result[GatekeeperState]:
        """After a resume: paused requests are decided again at once."""
        turn = _Turn(now)
        state = self._redecide(
            state, turn, lambda d: ReasonCode.PAUSED in d.reasons and not self.paused(d.request)
        )
        return turn.result(state)

    def _redecide(
        self, state: GatekeeperState, turn: _Turn, which: Callable[[Deferred], bool]
    ) -> GatekeeperState:
        for item in [d for d in state.deferred if which(d)]:
            state = state.model_copy(update={"deferred": [d for d in state.deferred if d is not item]})
            state = self._decide(state, item.request, turn, attempt=item.decisions + 1)
        return state

    # ---- decisions ---------------------------------------------------------------------------

    def _request(self, state: GatekeeperState, request: Request, turn: _Turn) -> GatekeeperState:
        if state.knows(request.request_id):
            turn.counts.append(Count(Counted.DUPLICATE_REQUEST))
            return state
        return self._decide(state, request, turn, attempt=1)

    def _decide(
        self,
        state: GatekeeperState,
        request: Request,
        turn: _Turn,
        attempt: int,
    ) -> GatekeeperState:
        now = turn.now
        decision = self._evaluate(state, request, now)
        decision_id = ids.decision_id(request.request_id, attempt)
        turn.outputs.append(Output(_decision_event(request, decision, decision_id, now), decision_id))
        turn.decided(decision)
        if decision.decision is DecisionKind.DEFER:
            deferred = Deferred(
                request=request, not_before=decision.not_before, reasons=decision.reasons, decisions=attempt
            )
            return state.model_copy(update={"deferred": [*state.deferred, deferred]})
        decided = {**state.decided, request.request_id: now}
        if isinstance(request, ev.EscalationRequested):
            return _escalated(state.model_copy(update={"decided": decided}), request, decision, turn)
        if decision.decision is DecisionKind.BLOCK:
            status = (
                OutcomeStatus.EXPIRED if ReasonCode.EXPIRED in decision.reasons else OutcomeStatus.BLOCKED
            )
            turn.outputs.append(_final_outcome(request, status, decision, now))
            return state.model_copy(update={"decided": decided})
        assert decision.valid_until is not None
        approval = ev.ContactApproved(
            debtor_id=request.debtor_id,
            request_id=request.request_id,
            decision_id=decision_id,
            account_id=request.account_id,
            channel=request.channel,
            destination=request.destination,
            template=request.template,
            language=request.language,
            kind=request.kind,
            variables=request.variables,
            strategy=request.strategy,
            strategy_version=request.strategy_version,
            arm=request.arm,
            approved_at=now,
            valid_until=decision.valid_until,
        )
        turn.outputs.append(Output(approval, ids.approval_id(request.request_id)))
        entry = LedgerEntry(
            request_id=request.request_id,
            channel=request.channel,
            account_id=request.account_id,
            at=now,
            relation=state.relation(request.destination),
            template_tags=self.tags(request.template),
        )
        return state.model_copy(update={"decided": decided, "ledger": [*state.ledger, entry]})

    def _evaluate(self, state: GatekeeperState, request: Request, now: datetime) -> Decision:
        blocked = _service_blocks(state, request)
        if blocked:
            return Decision(decision=DecisionKind.BLOCK, reasons=blocked, rules=["gatekeeper.state"])
        if state.profile is None and request.expires_at is not None and request.expires_at <= now:
            return Decision(
                decision=DecisionKind.BLOCK, reasons=[ReasonCode.EXPIRED], rules=["gatekeeper.profile"]
            )
        if state.profile is None:
            # Requests and profiles travel on different topics, so a request can overtake the profile it was
            # made from. Hold it until the profile arrives (or until it expires) rather than guess.
            return Decision(
                decision=DecisionKind.DEFER,
                reasons=[ReasonCode.PROFILE_MISSING],
                rules=["gatekeeper.profile"],
                not_before=request.expires_at,
            )
        try:
            decision = decide(_decide_input(state, request, now, self.tags), self.book)
        except (UnknownJurisdictionError, NoVersionInForceError) as exc:
            # A jurisdiction no loaded pack covers (or not yet in force): never contact on a guess.
            return Decision(
                decision=DecisionKind.BLOCK, reasons=[ReasonCode.NO_PACK], rules=[f"error: {exc}"[:200]]
            )
        except GatekeeperError as exc:
            return Decision(
                decision=DecisionKind.BLOCK,
                reasons=[ReasonCode.TIMEZONE_UNKNOWN],
                rules=[f"error: {exc}"[:200]],
            )
        if decision.decision is not DecisionKind.BLOCK and self.paused(request):
            reasons = [
                ReasonCode.PAUSED,
                *(decision.reasons if decision.decision is DecisionKind.DEFER else []),
            ]
            # Held until resumed; if it expires first, it is decided (and ends EXPIRED) at expiry.
            return Decision(
                decision=DecisionKind.DEFER,
                reasons=reasons,
                rules=["operator.pause"],
                not_before=request.expires_at,
                pack_versions=decision.pack_versions,
            )
        return decision

    def _end_deferred(
        self,
        state: GatekeeperState,
        turn: _Turn,
        reasons: ReasonCode | list[ReasonCode],
        which: Callable[[ev.ContactRequested], bool],
    ) -> GatekeeperState:
        """Block at once every deferred contact ``which`` selects."""
        codes = reasons if isinstance(reasons, list) else [reasons]
        # A deferred escalation is decided again when due: the engine knows which stops bar which kind.
        ending = [
            (d, d.request)
            for d in state.deferred
            if isinstance(d.request, ev.ContactRequested) and which(d.request)
        ]
        if not ending:
            return state
        decided, now = dict(state.decided), turn.now
        for item, request in ending:
            decision = Decision(decision=DecisionKind.BLOCK, reasons=codes, rules=["gatekeeper.state"])
            decision_id = ids.decision_id(request.request_id, item.decisions + 1)
            turn.outputs.append(Output(_decision_event(request, decision, decision_id, now), decision_id))
            turn.outputs.append(_final_outcome(request, OutcomeStatus.BLOCKED, decision, now))
            turn.decided(decision)
            decided[request.request_id] = now
        remaining = [d for d in state.deferred if all(d is not item for item, _ in ending)]
        return state.model_copy(update={"deferred": remaining, "decided": decided})

    def _consent(self, state: GatekeeperState, event: ev.ConsentChanged, turn: _Turn) -> GatekeeperState:
        current = [c for c in state.consent if c.address == event.address and c.channel is event.channel]
        opted_out = event.change is ev.ConsentChange.OPT_OUT
        at = event.occurred_at
        if current and current[0].at > at:
            if not opted_out:
                return state  # an opt-in older than the latest change does not undo it
            at = current[0].at  # an opt-out takes effect whatever its time; only a newer opt-in lifts it
        override = ConsentOverride(address=event.address, channel=event.channel, opted_out=opted_out, at=at)
        others = [c for c in state.consent if not (c.address == event.address and c.channel is event.channel)]
        state = state.model_copy(update={"consent": [*others, override]})
        if override.opted_out:
            state = self._end_deferred(
                state,
                turn,
                ReasonCode.OPTED_OUT,
                lambda r: r.destination == event.address and r.channel is event.channel,
            )
        return state

    def _status(self, state: GatekeeperState, event: ev.AccountStatusChanged, turn: _Turn) -> GatekeeperState:
        status, account = event.status, event.account_id
        if status is ev.AccountStatus.BANKRUPTCY:
            state = state.model_copy(update={"bankrupt": True})
            return self._end_deferred(state, turn, ReasonCode.BANKRUPTCY, lambda r: True)
        if status is ev.AccountStatus.DISPUTE_OPENED:
            state = state.model_copy(update={"disputed": _add(state.disputed, account)})
            return self._end_deferred(state, turn, ReasonCode.DISPUTE, _account(account))
        if status is ev.AccountStatus.DISPUTE_CLOSED:
            return state.model_copy(update={"disputed": _drop(state.disputed, account)})
        if status is ev.AccountStatus.CLOSED:
            state = state.model_copy(update={"closed": _add(state.closed, account)})
            return self._end_deferred(state, turn, ReasonCode.ACCOUNT_CLOSED, _account(account))
        return state


def _with_profile(state: GatekeeperState, profile: ev.DebtorProfileUpdated, at: datetime) -> GatekeeperState:
    """Keep the newest profile by ``ce_time``; its hard-stop flags, and an older one's, take effect at once.
    A stop is lifted only by a profile newer than the newest one that set it."""
    carried = {flag for flag in profile.flags if flag in _HARD_STOP}
    stops = {flag: max(set_at, at) if flag in carried else set_at for flag, set_at in state.stops.items()}
    stops |= {flag: at for flag in carried if flag not in stops}
    if state.profile_time is not None and at < state.profile_time:
        return state.model_copy(update={"stops": stops})
    lifted = {flag for flag, set_at in stops.items() if flag not in carried and set_at < at}
    kept = {flag: set_at for flag, set_at in stops.items() if flag not in lifted}
    return state.model_copy(update={"profile": profile, "profile_time": at, "stops": kept})


def _decide_input(
    state: GatekeeperState,
    request: Request,
    now: datetime,
    tags: Callable[[str], frozenset[TemplateTag]],
) -> DecideInput:
    profile = state.profile
    flags = sorted(state.stops)
    if state.bankrupt:
        flags.append(DebtorFlag.BANKRUPTCY.value)
    if request.account_id in state.disputed:
        flags.append(DebtorFlag.DISPUTE.value)
    contact = request if isinstance(request, ev.ContactRequested) else None
    address = contact.destination if contact is not None else None
    debtor = DebtorView(
        debtor_id=request.debtor_id,
        jurisdictions=profile.jurisdictions if profile else [],
        timezone=profile.timezone if profile else None,
        phones=[p.address for p in profile.contact_points if p.type is ev.ContactPointType.PHONE]
        if profile
        else [],
        consents=state.consents(address) if address is not None else [],
        opt_outs=[ch for ch in Channel if state.opted_out(address, ch)] if address is not None else [],
        flags=flags,
        inconvenient=[
            LocalWindow(start=w.start, end=w.end)
            for w in (profile.inconvenient if profile else [])
            if w.start != w.end
        ],
    )
    if contact is not None:
        view = RequestView(
            request_id=contact.request_id,
            account_id=contact.account_id,
            channel=contact.channel,
            kind=contact.kind,
            destination=Destination(
                address=contact.destination, relation=state.relation(contact.destination)
            ),
            not_before=contact.not_before,
            expires_at=contact.expires_at,
            template=contact.template,
            template_tags=tags(contact.template),
            strategy=contact.strategy,
        )
    else:
        assert isinstance(request, ev.EscalationRequested)
        view = RequestView(
            request_id=request.request_id,
            account_id=request.account_id,
            kind=RequestKind.ESCALATION,
            escalation=request.kind,
            not_before=request.not_before,
            expires_at=request.expires_at,
            strategy=request.strategy,
        )
    history: list[HistoryEntry | EscalationEntry] = [
        HistoryEntry(
            channel=e.channel,
            account_id=e.account_id,
            at=e.at,
            outcome=e.outcome,
            relation=e.relation,
            template_tags=e.template_tags,
        )
        for e in state.ledger
    ]
    history += [
        EscalationEntry(escalation=e.kind, account_id=e.account_id, at=e.at, decision=DecisionKind.ALLOW)
        for e in state.escalations
    ]
    return DecideInput(debtor=debtor, request=view, history=history, now=now)


def _service_blocks(state: GatekeeperState, request: Request) -> list[ReasonCode]:
    reasons = []
    if request.account_id in state.paid:
        reasons.append(ReasonCode.PAID)
    if request.account_id in state.closed:
        reasons.append(ReasonCode.ACCOUNT_CLOSED)
    if isinstance(request, ev.ContactRequested) and request.destination in state.wrong_party:
        reasons.append(ReasonCode.WRONG_PARTY)
    outreach = isinstance(request, ev.ContactRequested) and request.kind is RequestKind.OUTREACH
    if request.request_id in state.cancelled and outreach:
        reasons.append(ReasonCode.CANCELLED)
    return reasons


def _record_outcome(state: GatekeeperState, outcome: ev.ContactOutcome) -> GatekeeperState:
    if outcome.status is OutcomeStatus.APPROVED:
        return state
    ledger = []
    changed = False
    for entry in state.ledger:
        if entry.request_id != outcome.request_id:
            ledger.append(entry)
            continue
        changed = True
        if entry.final and not outcome.final:
            # Outcomes move forward only: a late "sent" never replaces the call's final "busy".
            ledger.append(entry)
        elif outcome.status not in _NOT_SENT:
            ledger.append(entry.model_copy(update={"outcome": outcome.status, "final": outcome.final}))
    return state.model_copy(update={"ledger": ledger}) if changed else state


def _decision_event(
    request: Request, decision: Decision, decision_id: str, now: datetime
) -> ev.ComplianceDecision:
    return ev.ComplianceDecision(
        debtor_id=request.debtor_id,
        decision_id=decision_id,
        request_id=request.request_id,
        account_id=request.account_id,
        channel=request.channel if isinstance(request, ev.ContactRequested) else None,
        escalation=request.kind if isinstance(request, ev.EscalationRequested) else None,
        decision=decision.decision,
        reasons=decision.reasons,
        rules=decision.rules,
        not_before=decision.not_before,
        valid_until=decision.valid_until,
        pack_versions=decision.pack_versions,
        strategy=request.strategy,
        arm=request.arm,
        decided_at=now,
    )


def _final_outcome(
    request: ev.ContactRequested, status: OutcomeStatus, decision: Decision, now: datetime
) -> Output:
    outcome = ev.ContactOutcome(
        debtor_id=request.debtor_id,
        outcome_id=ids.outcome_id(request.request_id, status, ids.Observer.GATEKEEPER),
        request_id=request.request_id,
        account_id=request.account_id,
        channel=request.channel,
        status=status,
        final=True,
        provider="gatekeeper",
        reasons=decision.reasons,
        strategy=request.strategy,
        arm=request.arm,
        occurred_at=now,
    )
    return Output(outcome, outcome.outcome_id)


def _escalated(
    state: GatekeeperState, request: ev.EscalationRequested, decision: Decision, turn: _Turn
) -> GatekeeperState:
    """An escalation decided: allowed, the gatekeeper raises it for core banking and the people who act on it,
    and remembers it (a restructuring offer is a forbearance offer for the enforcement rules)."""
    if decision.decision is not DecisionKind.ALLOW:
        return state
    raised = ev.EscalationRaised(
        debtor_id=request.debtor_id,
        escalation_id=request.request_id,
        account_id=request.account_id,
        kind=request.kind,
        reason=request.reason,
        days_past_due=request.days_past_due,
        currency=request.currency,
        total_outstanding=request.total_outstanding,
        strategy=request.strategy,
        arm=request.arm,
        raised_at=turn.now,
    )
    turn.outputs.append(Output(raised, raised.escalation_id))
    record = EscalationRecord(
        request_id=request.request_id, kind=request.kind, account_id=request.account_id, at=turn.now
    )
    return state.model_copy(update={"escalations": [*state.escalations, record]})


def _account(account_id: str) -> Callable[[ev.ContactRequested], bool]:
    return lambda r: r.account_id == account_id


def _add(items: Iterable[str], item: str) -> list[str]:
    values = list(items)
    return values if item in values else [*values, item]


def _drop(items: Iterable[str], item: str) -> list[str]:
    return [value for value in items if value != item]
