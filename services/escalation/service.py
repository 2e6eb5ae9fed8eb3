"""Escalation as a stateful handler: account events and outcomes in, contact requests and escalations out.

One case per debtor. AccountOverdue starts or advances an account's ladder; payments, promises, disputes,
cures and closures stop or pause it at once (and cancel requests still pending at the gatekeeper); the
reversal of the payment in full that stopped a ladder reopens it; outcomes drive retries, channel fallback
and right-party contact. Next steps live in the case and its ``next_due``, which the processor's
partition-local schedule runs. Request ids are deterministic, and a step already requested is recorded, so
replays, restarts and strategy version changes never request it twice.

Days past due are counted from the cycle's due date on escalation's own clock as well as taken from
AccountOverdue, whichever is more, and never go back within a cycle: a core banking system that publishes
an overdue once (Fineract does) sees its accounts move into later segments and reach the escalation
thresholds as one that publishes every night does. A day counts from the strategy's send hour.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_UP, Decimal
from enum import StrEnum
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from schemas import events as ev
from schemas import ids
from schemas.topics import ACCOUNT, CONSENT, DECISIONS, ESCALATION_STATE, OUTCOMES
from schemas.vocab import (
    Channel,
    DecisionKind,
    FailureKind,
    OutcomeStatus,
    ReasonCode,
    Relation,
    RequestKind,
)
from services.core.codec import Envelope
from services.core.runtime.handler import Count, Output, Result
from services.escalation.state import QUIET, AccountCase, Case, Phase, Promise, RequestRef, Retry
from services.escalation.strategy import Segment, Step, Strategy, send_instant, step_day, steps_for

# Failures after which this address will never work for this channel.
_DEAD_ENDS = frozenset({FailureKind.INVALID_DESTINATION, FailureKind.UNREACHABLE_DESTINATION})
# Blocks after which the address is not to be used on the channel again (until the debtor opts back in).
_UNUSABLE_REASONS = frozenset({ReasonCode.OPTED_OUT, ReasonCode.NO_CONSENT})
_FINAL_NO_RETRY = {OutcomeStatus.DELIVERED, OutcomeStatus.CONVERSATION, OutcomeStatus.REPLIED}


# Hand-offs with legal effect: the gatekeeper decides them (``EscalationRequested``); the rest are raised.
DECIDED = frozenset(
    {
        ev.EscalationKind.LEGAL,
        ev.EscalationKind.AGENCY_PLACEMENT,
        ev.EscalationKind.FIELD_VISIT,
        ev.EscalationKind.RESTRUCTURING_OFFER,
    }
)
# The contact that makes the forbearance offer an enforcement step needs first, and the outcomes that count
# as the offer having reached the debtor (as the packs' forbearance rules count them).
FORBEARANCE_OFFER = Step(
    name="forbearance-offer",
    channel=Channel.EMAIL,
    template="restructuring_offer",
    at_dpd=0,
    expires_hours=72,
)
EMERGENCY_CONTACT = Step(name="emergency-contact", channel=Channel.SMS, template="callback_request", at_dpd=0)
_REACHED = frozenset({OutcomeStatus.CONVERSATION, OutcomeStatus.REPLIED, OutcomeStatus.AGENT_TRANSFER})
_UNANSWERED = frozenset(
    {OutcomeStatus.NO_ANSWER, OutcomeStatus.BUSY, OutcomeStatus.NOT_CONNECTED, OutcomeStatus.FAILED}
)
_OFFERED = frozenset(
    {OutcomeStatus.SENT, OutcomeStatus.DELIVERED, OutcomeStatus.CONVERSATION, OutcomeStatus.VOICEMAIL}
)


# Emails the relay accepted whose bounce may still come: the last few keep their reference (where they went),
# so that a hard bounce days later still marks the address unusable.
BOUNCE_WINDOW = 4


def _awaiting_bounces(
    requests: dict[str, RequestRef], event: ev.ContactOutcome, pending: list[str]
) -> dict[str, RequestRef]:
    """The account's request references once ``event`` finished its request: an email accepted by the relay
    (``sent``) stays among the few that await a bounce, anything else goes."""
    kept = {r: v for r, v in requests.items() if r != event.request_id}
    if event.channel is Channel.EMAIL and event.status is OutcomeStatus.SENT:
        kept[event.request_id] = requests[event.request_id]
        awaiting = [r for r in kept if r not in pending]
        for old in awaiting[:-BOUNCE_WINDOW]:
            del kept[old]
    return kept


class Counted(StrEnum):
    """What the handler counts; ``EscalationMetrics`` declares a metric for each."""

    CASE = "case"  # an account entering a segment; labels: segment, arm
    REQUEST = "request"  # labels: channel, step
    ESCALATION = "escalation"  # labels: kind
    NO_CHANNEL = "no_channel"
    STOP_LATENCY = "stop_latency"  # seconds from a payment in full to outreach stopped


@dataclass(slots=True)
class _Turn:
    """One application of the handler: the instant, and what it publishes and counts."""

    now: datetime
    out: list[Output] = field(default_factory=list)
    counts: list[Count] = field(default_factory=list)

    def count(self, metric: Counted, *labels: str, value: float = 1.0) -> None:
        self.counts.append(Count(metric, labels, value))

    def result(self, case: Case) -> Result[Case]:
        return Result(case, self.out, case.next_due(), case.scheduled(), self.counts)


class Escalation:
    """Implements ``services.core.runtime.keyed.Handler`` for escalation."""

    service = "escalation"
    input_topics: tuple[str, ...] = (ACCOUNT, OUTCOMES, CONSENT, DECISIONS)
    state_topic = ESCALATION_STATE
    state_model = Case

    def __init__(self, strategy: Strategy, payment_link_base: str) -> None:
        self.strategy = strategy
        self.payment_link_base = payment_link_base.rstrip("/")

    # ---- inputs ------------------------------------------------------------------------------

    def apply(
        self, key: str, state: Case | None, envelope: Envelope[BaseModel], now: datetime
    ) -> Result[Case]:
        case = state or Case(debtor_id=key, arm=self.strategy.experiment.arm_for(key))
        turn = _Turn(now)
        event = envelope.event
        match event:
            case ev.DebtorProfileUpdated():
                if case.profile_time is None or envelope.time >= case.profile_time:
                    case = case.model_copy(update={"profile": event, "profile_time": envelope.time})
            case ev.AccountOverdue():
                case = self._overdue(case, event, turn)
            case ev.PaymentPosted():
                case = self._payment(case, event, envelope, turn)
            case ev.PaymentReversed():
                case = self._reversal(case, event, turn)
            case ev.PromiseToPayRecorded():
                case = self._promise(case, event, envelope, turn)
            case ev.AccountStatusChanged():
                case = self._status(case, event, envelope, turn)
            case ev.ConsentChanged():
                pair = (event.address, event.channel)
                unusable = [u for u in case.unusable if u != pair]
                if event.change is ev.ConsentChange.OPT_OUT:
                    unusable.append(pair)
                case = case.model_copy(update={"unusable": unusable})
            case ev.WrongPartyReported() if event.address not in case.wrong_party:
                case = case.model_copy(update={"wrong_party": [*case.wrong_party, event.address]})
            case ev.ContactOutcome():
                case = self._outcome(case, event, turn)
            case ev.ComplianceDecision() if event.escalation is not None:
                case = self._answered(case, event, turn)
            case _:
                pass
        return turn.result(case)

    def due(self, key: str, state: Case, now: datetime) -> Result[Case]:
        turn = _Turn(now)
        case = state
        for account in list(case.accounts.values()):
            account = self._wake(case, account, turn)
            account = self._age(case, account, turn)
            if account.phase is Phase.ACTIVE and not account.held_for:
                account = self._run_retries(case, account, turn)
                account = self._run_ladder(case, account, turn)
            case = _with(case, account)
        return turn.result(case)

    # ---- lifecycle ---------------------------------------------------------------------------

    def _overdue(self, case: Case, event: ev.AccountOverdue, turn: _Turn) -> Case:
        now = turn.now
        account = case.accounts.get(event.account_id)
        if account is None or _new_cycle(account, event):
            account = AccountCase(
                account_id=event.account_id,
                product=event.product,
                currency=event.currency,
                amount_due=event.amount_due,
                total_outstanding=event.total_outstanding,
                days_past_due=event.days_past_due,
                due_date=event.due_date,
                risk_score=event.risk_score,
                as_of=event.as_of,
                entered_at=now,
            )
        else:
            # Within a cycle, an overdue about a later instalment (a later due date, fewer days) still counts
            # from the cycle's due date, and days past due never go back.
            later = max(0, (event.due_date - account.due_date).days)
            account = account.model_copy(
                update={
                    "product": event.product,
                    "currency": event.currency,
                    "amount_due": event.amount_due,
                    "total_outstanding": event.total_outstanding,
                    "days_past_due": max(account.days_past_due, event.days_past_due + later),
                    "risk_score": event.risk_score,
                    "as_of": event.as_of,
                    "paid_since_overdue": Decimal(0),
                }
            )
        return _with(case, self._reassess(case, account, turn))

    def _reassess(
        self, case: Case, account: AccountCase, turn: _Turn, *, restart: bool = False
    ) -> AccountCase:
        """Thresholds and segment for the account's days past due, and when they are next looked at.
        ``restart`` puts the ladder back at the latest step due even when the segment stays the same."""
        account = self._thresholds(case, account, turn)
        if account.phase in (Phase.ACTIVE, Phase.PROMISED, Phase.DISPUTED, Phase.HARDSHIP):
            segment = self.strategy.segment_for(
                account.days_past_due,
                account.total_outstanding,
                account.currency,
                account.risk_score,
                account.product,
            )
            if segment is not None and segment.name != account.segment:
                account = self._enter(case, account, segment, turn)
            elif segment is not None and restart:
                account = self._position(case, account, segment)
        return account.model_copy(update={"ages_at": self._ages_at(case, account)})

    def _enter(self, case: Case, account: AccountCase, segment: Segment, turn: _Turn) -> AccountCase:
        turn.count(Counted.CASE, segment.name, case.arm)
        return self._position(case, account.model_copy(update={"segment": segment.name}), segment)

    def _position(self, case: Case, account: AccountCase, segment: Segment) -> AccountCase:
        """Put a segment's ladder at the latest step already due (missed earlier ones are not sent)."""
        ladder = steps_for(segment, case.arm)
        start = 0
        for index, step in enumerate(ladder):
            if step.at_dpd is not None and step.at_dpd <= account.days_past_due:
                start = index
        account = account.model_copy(update={"next_step": start})
        return account.model_copy(update={"next_at": self._step_at(case, account, ladder, start)})

    # ---- days past due on the clock ----------------------------------------------------------

    def _age(self, case: Case, account: AccountCase, turn: _Turn) -> AccountCase:
        """Days past due as the clock counts them from the cycle's due date; thresholds and segment follow."""
        if account.phase in QUIET:
            return account
        days = self._days_past_due(case, account, turn.now)
        if days <= account.days_past_due:
            return account.model_copy(update={"ages_at": self._ages_at(case, account)})
        return self._reassess(case, account.model_copy(update={"days_past_due": days}), turn)

    def _days_past_due(self, case: Case, account: AccountCase, now: datetime) -> int:
        """Days from the due date to ``now``, a day counting from the send hour (when its steps are due)."""
        zone = self._zone(case)
        days = (now.astimezone(zone).date() - account.due_date).days
        if send_instant(account.due_date + timedelta(days=days), self.strategy, zone) > now:
            days -= 1
        return days

    def _ages_at(self, case: Case, account: AccountCase) -> datetime | None:
        """When the days past due next reach a day that can change something: a threshold not raised yet,
        or, while the account is in a ladder's phases, the bounds of a segment."""
        if account.phase in QUIET:
            return None
        days = {
            rule.at_dpd
            for rule in self.strategy.escalations
            if rule.at_dpd is not None
            and rule.kind not in account.escalated
            and rule.reached_by(account.total_outstanding, account.currency)
        }
        if account.phase in (Phase.ACTIVE, Phase.PROMISED, Phase.DISPUTED, Phase.HARDSHIP):
            for segment in self.strategy.segments:
                days.update((segment.min_dpd, segment.max_dpd + 1))
        ahead = [d for d in days if d > account.days_past_due]
        if not ahead:
            return None
        day = account.due_date + timedelta(days=min(ahead))
        return send_instant(day, self.strategy, self._zone(case))

    def _payment(
        self,
        case: Case,
        event: ev.PaymentPosted,
        envelope: Envelope[BaseModel],
        turn: _Turn,
    ) -> Case:
        account = case.accounts.get(event.account_id)
        if account is None:
            return case
        if event.paid_in_full:
            turn.count(Counted.STOP_LATENCY, value=max(0.0, (turn.now - envelope.time).total_seconds()))
            account = self._stop(case, account, Phase.STOPPED, ev.CancelReason.PAID, envelope.id, turn)
            stopped = {"total_outstanding": Decimal(0), "stopped_by": event.payment_id}
            return _with(case, account.model_copy(update=stopped))
        update: dict[str, object] = {"total_outstanding": event.outstanding_after}
        if event.posted_at > account.as_of:  # a payment booked before the overdue is in its amount due
            update["paid_since_overdue"] = account.paid_since_overdue + event.amount
        if account.promise is not None:
            promise = account.promise.model_copy(update={"paid": account.promise.paid + event.amount})
            update["promise"] = promise
            if promise.paid >= promise.amount:
                update.update(phase=Phase.KEPT, promise=None, phase_until=None)
        account = account.model_copy(update=update)
        live = account.phase not in (Phase.STOPPED, Phase.CURED, Phase.HANDED_OFF)
        if live and account.paid_since_overdue >= account.amount_due:
            # The amount past due is paid: the account is current again and this cycle's ladder ends now,
            # until an overdue names a new due date. A partial payment only lowers what the next steps ask.
            account = self._cancel_pending(case, account, ev.CancelReason.CURED, envelope.id, turn)
            cured = {"phase": Phase.CURED, "phase_until": None, "promise": None, "next_at": None}
            account = account.model_copy(update={**cured, "ages_at": None, "stopped_by": event.payment_id})
        return _with(case, account)

    def _reversal(self, case: Case, event: ev.PaymentReversed, turn: _Turn) -> Case:
        """A payment undone: what it paid is owed again. If it was the payment in full that stopped the
        ladder, the cycle's ladder goes on from the latest step due, as if it had not stopped (the steps
        missed meanwhile are not sent); a closure since then is undone with it, a bankruptcy is not."""
        account = case.accounts.get(event.account_id)
        if account is None:
            return case
        owed = account.total_outstanding + event.amount
        unpaid = max(Decimal(0), account.paid_since_overdue - event.amount)
        update: dict[str, object] = {"total_outstanding": owed, "paid_since_overdue": unpaid}
        if account.promise is not None:
            paid = max(Decimal(0), account.promise.paid - event.amount)
            update["promise"] = account.promise.model_copy(update={"paid": paid})
        account = account.model_copy(update=update)
        if account.phase not in QUIET or account.stopped_by != event.payment_id or case.bankrupt:
            return _with(case, account)
        account = account.model_copy(update={"phase": Phase.ACTIVE, "stopped_at": None, "stopped_by": None})
        days = max(account.days_past_due, self._days_past_due(case, account, turn.now))
        account = account.model_copy(update={"days_past_due": days})
        return _with(case, self._reassess(case, account, turn, restart=True))

    def _promise(
        self,
        case: Case,
        event: ev.PromiseToPayRecorded,
        envelope: Envelope[BaseModel],
        turn: _Turn,
    ) -> Case:
        account = case.accounts.get(event.account_id)
        if account is None or account.phase in (*QUIET, Phase.HANDED_OFF):
            return case
        zone = self._zone(case)
        check_day = event.promised_date + timedelta(days=self.strategy.promise_grace_days + 1)
        promise = Promise(
            promise_id=event.promise_id,
            amount=event.amount,
            promised_date=event.promised_date,
            check_at=send_instant(check_day, self.strategy, zone),
        )
        account = self._cancel_pending(case, account, ev.CancelReason.PROMISE_TO_PAY, envelope.id, turn)
        return _with(
            case,
            account.model_copy(
                update={"phase": Phase.PROMISED, "promise": promise, "phase_until": promise.check_at}
            ),
        )

    def _status(
        self,
        case: Case,
        event: ev.AccountStatusChanged,
        envelope: Envelope[BaseModel],
        turn: _Turn,
    ) -> Case:
        now = turn.now
        status, reason = event.status, ev.CancelReason
        if status is ev.AccountStatus.BANKRUPTCY:
            for each in list(case.accounts.values()):
                case = _with(
                    case, self._stop(case, each, Phase.STOPPED, reason.BANKRUPTCY, envelope.id, turn)
                )
            bankrupt = case.accounts.get(event.account_id)
            if bankrupt is not None:
                review = ev.EscalationKind.BANKRUPTCY_REVIEW
                case = _with(case, self._raise(case, bankrupt, review, "bankruptcy reported", turn))
            return case.model_copy(update={"bankrupt": True})
        found = case.accounts.get(event.account_id)
        if found is None:
            return case
        account = found
        if status in (ev.AccountStatus.CURED, ev.AccountStatus.CLOSED, ev.AccountStatus.RESTRUCTURED):
            why = {ev.AccountStatus.CURED: reason.CURED, ev.AccountStatus.CLOSED: reason.CLOSED}.get(
                status, reason.RESTRUCTURED
            )
            account = self._stop(case, account, Phase.STOPPED, why, envelope.id, turn)
            if status is ev.AccountStatus.RESTRUCTURED:
                # Replaced by a new loan: a reversal on the old one reopens nothing.
                account = account.model_copy(update={"stopped_by": None})
        elif status is ev.AccountStatus.DISPUTE_OPENED and account.phase is not Phase.STOPPED:
            account = self._stop(case, account, Phase.DISPUTED, reason.DISPUTE, envelope.id, turn)
        elif status is ev.AccountStatus.DISPUTE_CLOSED and account.phase is Phase.DISPUTED:
            account = account.model_copy(update={"phase": Phase.ACTIVE, "next_at": now})
        elif status is ev.AccountStatus.HARDSHIP and account.phase not in (Phase.STOPPED, Phase.HANDED_OFF):
            account = self._stop(case, account, Phase.HARDSHIP, reason.HARDSHIP, envelope.id, turn)
            account = account.model_copy(
                update={"phase_until": now + timedelta(days=self.strategy.hardship_pause_days)}
            )
            for rule in self.strategy.escalations:
                if rule.on_hardship and rule.reached_by(account.total_outstanding, account.currency):
                    account = self._raise(case, account, rule.kind, "hardship reported", turn)
        return _with(case, account)

    def _outcome(self, case: Case, event: ev.ContactOutcome, turn: _Turn) -> Case:
        now = turn.now
        account = case.accounts.get(event.account_id)
        if account is None or event.request_id not in account.requests:
            return case
        ref = account.requests[event.request_id]
        if (
            ref.step.endswith(f"/{FORBEARANCE_OFFER.name}")
            and event.status in _OFFERED
            and account.awaiting_offer
        ):
            # The offer reached the debtor: ask again for the enforcement it was the condition of.
            for kind in account.awaiting_offer:
                account = self._raise(case, account, kind, "after the forbearance offer", turn, attempt=2)
            account = account.model_copy(update={"awaiting_offer": []})
            case = _with(case, account)
        update: dict[str, object] = {}
        unusable = list(case.unusable)
        if event.status is OutcomeStatus.CONVERSATION:
            case = case.model_copy(update={"right_party_contacts": case.right_party_contacts + 1})
        if ref.relation is Relation.SELF and event.status in _REACHED:
            case = case.model_copy(update={"failed_calls": 0})
        elif ref.relation is Relation.SELF and ref.channel is Channel.VOICE and event.status in _UNANSWERED:
            case = case.model_copy(update={"failed_calls": case.failed_calls + 1})
            account = self._emergency_contact(case, account, turn)
            case = _with(case, account)
        if event.status is OutcomeStatus.OPTED_OUT or (
            event.status is OutcomeStatus.BLOCKED and _UNUSABLE_REASONS & set(event.reasons)
        ):
            unusable.append((ref.destination, ref.channel))
        if event.status in (OutcomeStatus.FAILED, OutcomeStatus.UNDELIVERED) and event.failure in _DEAD_ENDS:
            unusable.append((ref.destination, ref.channel))
            if event.failure is FailureKind.INVALID_DESTINATION and ref.channel is not Channel.EMAIL:
                # Not a valid number at all: no use for calls or texts either.
                unusable.append(
                    (ref.destination, Channel.VOICE if ref.channel is Channel.SMS else Channel.SMS)
                )
        if unusable != case.unusable:
            case = case.model_copy(update={"unusable": list(dict.fromkeys(unusable))})
        step = self._step_by_id(ref.step, case.arm)
        if (
            step is not None
            and step.retry is not None
            and event.status in step.retry.on
            and ref.attempt <= step.retry.max
            and account.phase is Phase.ACTIVE
        ):
            at = now + timedelta(hours=step.retry.after_hours)
            update["retries"] = [
                *account.retries,
                Retry(step=ref.step, channel=ref.channel, attempt=ref.attempt + 1, at=at),
            ]
        if event.final or event.status in _FINAL_NO_RETRY:
            pending = [r for r in account.pending if r != event.request_id]
            update["pending"] = pending
            update["requests"] = _awaiting_bounces(account.requests, event, pending)
        return _with(case, account.model_copy(update=update)) if update else case

    # ---- scheduled work ----------------------------------------------------------------------

    def _wake(self, case: Case, account: AccountCase, turn: _Turn) -> AccountCase:
        now = turn.now
        if account.phase_until is None or account.phase_until > now:
            return account
        if account.phase is Phase.PROMISED and account.promise is not None:
            broken = account.broken_promises + 1
            account = account.model_copy(
                update={
                    "phase": Phase.ACTIVE,
                    "phase_until": None,
                    "promise": None,
                    "broken_promises": broken,
                }
            )
            account = self._resume_stronger(case, account, now)
            for rule in self.strategy.escalations:
                if (
                    rule.after_broken_promises is not None
                    and broken >= rule.after_broken_promises
                    and rule.reached_by(account.total_outstanding, account.currency)
                ):
                    account = self._raise(case, account, rule.kind, f"{broken} broken promises", turn)
        else:
            # Forbearance over (or a pause with nothing left to judge): the ladder goes on from where it was.
            account = account.model_copy(update={"phase": Phase.ACTIVE, "phase_until": None, "next_at": now})
        return account

    def _resume_stronger(self, case: Case, account: AccountCase, now: datetime) -> AccountCase:
        ladder = self._ladder(case, account)
        for index, step in enumerate(ladder):
            if step.resume_after_broken_promise and self._step_id(account, step) not in account.done:
                return account.model_copy(update={"next_step": index, "next_at": now})
        return account.model_copy(update={"next_at": now})

    def _run_ladder(self, case: Case, account: AccountCase, turn: _Turn) -> AccountCase:
        now = turn.now
        ladder = self._ladder(case, account)
        while account.next_at is not None and account.next_at <= now and account.next_step < len(ladder):
            step = ladder[account.next_step]
            step_id = self._step_id(account, step)
            if step_id not in account.done:
                account = self._request(case, account, step, step.channel, 1, account.next_at, turn)
                account = account.model_copy(update={"done": [*account.done, step_id], "last_step_at": now})
            following = account.next_step + 1
            account = account.model_copy(
                update={
                    "next_step": following,
                    "next_at": self._step_at(case, account, ladder, following),
                }
            )
        if account.next_step >= len(ladder) and account.next_at is not None:
            # The ladder is done (a resume after a promise, dispute or hardship may point past its end).
            account = account.model_copy(update={"next_at": None})
        return account

    def _run_retries(self, case: Case, account: AccountCase, turn: _Turn) -> AccountCase:
        now = turn.now
        due = [r for r in account.retries if r.at <= now]
        if not due:
            return account
        account = account.model_copy(update={"retries": [r for r in account.retries if r.at > now]})
        for retry in due:
            step = self._step_by_id(retry.step, case.arm)
            if step is not None:
                account = self._request(case, account, step, retry.channel, retry.attempt, retry.at, turn)
        return account

    def _step_at(self, case: Case, account: AccountCase, ladder: list[Step], index: int) -> datetime | None:
        if index >= len(ladder):
            return None
        zone = self._zone(case)
        day = step_day(ladder[index], account.due_date, account.last_step_at, zone)
        return send_instant(day, self.strategy, zone)

    # ---- outputs -----------------------------------------------------------------------------

    def _request(
        self,
        case: Case,
        account: AccountCase,
        step: Step,
        channel: Channel,
        attempt: int,
        scheduled: datetime,
        turn: _Turn,
        to: tuple[str, dict[str, str]] | None = None,
    ) -> AccountCase:
        """Request ``step`` on the debtor's own point for ``channel`` (or a fallback channel); ``to``: another
        person's point and the only variables the message may carry."""
        now = turn.now
        step_id = self._step_id(account, step)
        chosen = (channel, to[0]) if to is not None else self._route(case, channel)
        if chosen is None:
            turn.count(Counted.NO_CHANNEL)
            return account
        channel, destination = chosen
        request_id = ids.request_id(case.debtor_id, account.account_id, step_id, attempt)
        not_before = max(scheduled, now) if attempt == 1 else now
        request = ev.ContactRequested(
            debtor_id=case.debtor_id,
            request_id=request_id,
            account_id=account.account_id,
            channel=channel,
            destination=destination,
            template=step.template,
            language=case.profile.language if case.profile else "en-US",
            kind=RequestKind.OUTREACH,
            strategy=self.strategy.strategy,
            strategy_version=self.strategy.version,
            arm=case.arm,
            step=step_id,
            variables=to[1] if to is not None else self._variables(case, account, now),
            not_before=not_before,
            expires_at=not_before + timedelta(hours=step.expires_hours),
            requested_at=now,
        )
        turn.out.append(Output(request, request_id))
        turn.count(Counted.REQUEST, channel.value, step.name)
        attempts = {**account.attempts, step_id: max(attempt, account.attempts.get(step_id, 0))}
        relation = Relation.EMERGENCY_CONTACT if to is not None else Relation.SELF
        ref = RequestRef(
            step=step_id, channel=channel, destination=destination, attempt=attempt, relation=relation
        )
        return account.model_copy(
            update={
                "pending": [*account.pending, request_id],
                "requests": {**account.requests, request_id: ref},
                "attempts": attempts,
            }
        )

    def _emergency_contact(self, case: Case, account: AccountCase, turn: _Turn) -> AccountCase:
        """Ask to reach the debtor through an emergency contact they gave, once per cycle, after the rule's
        unanswered calls; the message carries only the debtor's name."""
        rule = self.strategy.emergency_contact
        if rule is None or case.failed_calls < rule.after_failed_calls or account.phase is not Phase.ACTIVE:
            return account
        step = EMERGENCY_CONTACT.model_copy(update={"channel": rule.channel, "template": rule.template})
        step_id = self._step_id(account, step)
        kind = ev.ContactPointType.EMAIL if rule.channel is Channel.EMAIL else ev.ContactPointType.PHONE
        points = [
            p
            for p in (case.profile.contact_points if case.profile else [])
            if p.relation is Relation.EMERGENCY_CONTACT
            and p.type is kind
            and (p.address, rule.channel) not in case.unusable
            and p.address not in case.wrong_party
        ]
        if step_id in account.done or not points:
            return account
        name = {"name": case.profile.name} if case.profile and case.profile.name else {}
        account = self._request(
            case, account, step, rule.channel, 1, turn.now, turn, to=(points[0].address, name)
        )
        return account.model_copy(update={"done": [*account.done, step_id]})

    def _route(self, case: Case, preferred: Channel) -> tuple[Channel, str] | None:
        """The step's channel if a usable contact point exists, else the first usable fallback channel."""
        order = [preferred, *[c for c in self.strategy.fallback if c is not preferred]]
        for channel in order:
            destination = self._destination(case, channel)
            if destination is not None:
                return channel, destination
        return None

    def _destination(self, case: Case, channel: Channel) -> str | None:
        if case.profile is None:
            return None
        kind = ev.ContactPointType.EMAIL if channel is Channel.EMAIL else ev.ContactPointType.PHONE
        usable = [
            p
            for p in case.profile.contact_points
            if p.type is kind
            and p.relation is Relation.SELF
            and (p.address, channel) not in case.unusable
            and p.address not in case.wrong_party
        ]
        consented = [p for p in usable if channel in p.consents]
        # Prefer a point with consent for the channel; the gatekeeper judges whether consent is required.
        chosen = (consented or usable)[:1]
        return chosen[0].address if chosen else None

    def _variables(self, case: Case, account: AccountCase, now: datetime) -> dict[str, str]:
        zone = self._zone(case)
        first_due = (now.astimezone(zone) + timedelta(days=7)).date()
        token = ids.payment_token(case.debtor_id, account.account_id)
        name = (case.profile.name or "") if case.profile else ""
        variables = {
            "name": name.split()[0] if name and " " in name else name,
            "payment_link": f"{self.payment_link_base}/{token}",
            "amount_due": f"{account.amount_due:.2f}",
            "currency": account.currency,
            "total_outstanding": f"{account.total_outstanding:.2f}",
            "first_instalment_date": first_due.isoformat(),
        }
        for count, amount in plan_offers(account.total_outstanding, self.strategy.plan_instalments):
            variables[f"plan_{count}"] = f"{amount:.2f}"
        return variables

    def _cancel_pending(
        self,
        case: Case,
        account: AccountCase,
        reason: ev.CancelReason,
        cause: str,
        turn: _Turn,
    ) -> AccountCase:
        """Withdraw the account's requests still pending; ``cause`` (the triggering event's id) makes the
        cancellation's id deterministic."""
        now = turn.now
        if account.pending:
            cancel = ev.ContactCancelled(
                debtor_id=case.debtor_id,
                account_id=account.account_id,
                request_ids=list(account.pending),
                reason=reason,
                cancelled_at=now,
            )
            turn.out.append(Output(cancel, ids.cancellation_id(cause, account.account_id)))
        return account.model_copy(update={"pending": [], "requests": {}, "retries": []})

    def _stop(
        self,
        case: Case,
        account: AccountCase,
        phase: Phase,
        reason: ev.CancelReason,
        cause: str,
        turn: _Turn,
    ) -> AccountCase:
        now = turn.now
        account = self._cancel_pending(case, account, reason, cause, turn)
        update: dict[str, object] = {"phase": phase, "phase_until": None}
        if phase is Phase.STOPPED:
            update.update(stopped_at=now, promise=None, next_at=None, ages_at=None)
        return account.model_copy(update=update)

    def _thresholds(self, case: Case, account: AccountCase, turn: _Turn) -> AccountCase:
        for rule in self.strategy.escalations:
            if rule.at_dpd is None or account.days_past_due < rule.at_dpd:
                continue
            if not rule.reached_by(account.total_outstanding, account.currency) or account.phase in QUIET:
                continue
            account = self._raise(case, account, rule.kind, f"days past due >= {rule.at_dpd}", turn)
            if rule.kind not in DECIDED and rule.stops_outreach:
                account = self._hand_off(case, account, rule.kind, turn)
        return account

    def _hand_off(
        self, case: Case, account: AccountCase, kind: ev.EscalationKind, turn: _Turn
    ) -> AccountCase:
        if account.phase is Phase.HANDED_OFF:
            return account
        account = self._cancel_pending(
            case, account, ev.CancelReason.HANDED_OFF, f"handoff:{kind.value}", turn
        )
        return account.model_copy(update={"phase": Phase.HANDED_OFF, "next_at": None})

    def _answered(self, case: Case, decision: ev.ComplianceDecision, turn: _Turn) -> Case:
        """The gatekeeper's answer to an escalation request: allowed, the case is handed off if the rule says
        so; refused until a forbearance offer reaches the debtor, the offer goes first; deferred, the
        gatekeeper answers again when due."""
        account = case.accounts.get(decision.account_id)
        if account is None or decision.request_id not in account.asked:
            return case
        kind = account.asked[decision.request_id]
        # Answered, if only with "later": outreach goes on meanwhile (a forbearance period is one).
        held = [rid for rid in account.held_for if rid != decision.request_id]
        account = account.model_copy(update={"held_for": held})
        if decision.decision is DecisionKind.DEFER:
            return _with(case, account)
        asked = {rid: k for rid, k in account.asked.items() if rid != decision.request_id}
        account = account.model_copy(update={"asked": asked})
        if decision.decision is DecisionKind.ALLOW:
            if any(rule.kind is kind and rule.stops_outreach for rule in self.strategy.escalations):
                account = self._hand_off(case, account, kind, turn)
            return _with(case, account)
        if ReasonCode.FORBEARANCE_REQUIRED in decision.reasons and kind not in account.awaiting_offer:
            account = account.model_copy(update={"awaiting_offer": [*account.awaiting_offer, kind]})
            step = FORBEARANCE_OFFER.model_copy(update={"template": self.strategy.forbearance_template})
            channel = Channel.EMAIL if self._destination(case, Channel.EMAIL) else Channel.SMS
            account = self._request(case, account, step, channel, 1, turn.now, turn)
        return _with(case, account)

    def _raise(
        self,
        case: Case,
        account: AccountCase,
        kind: ev.EscalationKind,
        reason: str,
        turn: _Turn,
        attempt: int = 1,
    ) -> AccountCase:
        """Ask the gatekeeper for a hand-off it decides (legal, agency, field visit, restructuring); raise the
        others (a bankruptcy review) at once."""
        now = turn.now
        if kind in account.escalated and attempt == 1:
            return account
        escalation_id = ids.escalation_id(
            case.debtor_id, account.account_id, account.due_date, kind.value, attempt
        )
        escalated = list(dict.fromkeys([*account.escalated, kind]))
        if kind in DECIDED:
            request = ev.EscalationRequested(
                debtor_id=case.debtor_id,
                request_id=escalation_id,
                account_id=account.account_id,
                kind=kind,
                reason=reason,
                days_past_due=account.days_past_due,
                currency=account.currency,
                total_outstanding=account.total_outstanding,
                strategy=self.strategy.strategy,
                arm=case.arm,
                requested_at=now,
            )
            turn.out.append(Output(request, escalation_id))
            turn.count(Counted.ESCALATION, kind.value)
            asked = {**account.asked, escalation_id: kind}
            stops = any(rule.kind is kind and rule.stops_outreach for rule in self.strategy.escalations)
            held = [*account.held_for, escalation_id] if stops else account.held_for
            return account.model_copy(update={"escalated": escalated, "asked": asked, "held_for": held})
        turn.out.append(
            Output(
                ev.EscalationRaised(
                    debtor_id=case.debtor_id,
                    escalation_id=escalation_id,
                    account_id=account.account_id,
                    kind=kind,
                    reason=reason,
                    days_past_due=account.days_past_due,
                    currency=account.currency,
                    total_outstanding=account.total_outstanding,
                    strategy=self.strategy.strategy,
                    arm=case.arm,
                    raised_at=now,
                ),
                escalation_id,
            )
        )
        turn.count(Counted.ESCALATION, kind.value)
        return account.model_copy(update={"escalated": escalated})

    # ---- helpers -----------------------------------------------------------------------------

    def _ladder(self, case: Case, account: AccountCase) -> list[Step]:
        segment = self.strategy.segment(account.segment) if account.segment else None
        return steps_for(segment, case.arm) if segment is not None else []

    def _step_id(self, account: AccountCase, step: Step) -> str:
        # The cycle (the due date that started it) is part of the identity: a new missed instalment starts a
        # fresh ladder, while a new strategy version never repeats a step of the current cycle.
        return f"{account.due_date.isoformat()}/{account.segment}/{step.name}"

    def _step_by_id(self, step_id: str, arm: str) -> Step | None:
        _, segment_name, step_name = step_id.split("/", 2)
        segment = self.strategy.segment(segment_name)
        if segment is None:
            return None
        return next((s for s in steps_for(segment, arm) if s.name == step_name), None)

    def _zone(self, case: Case) -> ZoneInfo:
        name = (
            case.profile.timezone
            if case.profile and case.profile.timezone
            else self.strategy.default_timezone
        )
        return ZoneInfo(name)


def plan_offers(balance: Decimal, counts: list[int]) -> Iterator[tuple[int, Decimal]]:
    """Equal instalments (rounded up to the cent) that repay ``balance``: a way to pay in every reminder."""
    for count in counts:
        if balance > 0:
            yield count, (balance / count).quantize(Decimal("0.01"), rounding=ROUND_UP)


def _new_cycle(account: AccountCase, event: ev.AccountOverdue) -> bool:
    """Overdue again after the account was settled, or a new instalment missed after a kept promise or a
    cure."""
    if account.phase is Phase.STOPPED:
        return account.stopped_at is not None and event.as_of > account.stopped_at
    if account.phase in (Phase.KEPT, Phase.CURED):
        return event.due_date != account.due_date
    return False


def _with(case: Case, account: AccountCase) -> Case:
    return case.model_copy(update={"accounts": {**case.accounts, account.account_id: account}})
