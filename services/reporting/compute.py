"""Collection effectiveness from the event log: a pure function from events to a ``Report``, no clock.

Every figure is defined in docs/reporting.md (and beside it in the text and HTML views, from
``services.reporting.definitions``); the code follows those definitions to the letter. The only input that
is not an event: the dated exchange rates and the configured champion/challenger split, passed in (or read
from the shipped files under deploy/ when not given).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from schemas import events as ev
from schemas.vocab import Channel
from services.core.codec import Envelope
from services.reporting.audit import primary_zone
from services.reporting.compare import compare, sample_ratio
from services.reporting.experiment import Experiment
from services.reporting.fx import Fx
from services.reporting.index import UNASSIGNED, Account, Contact, Log, index, last_send, promise_verdict
from services.reporting.model import (
    ArmStats,
    Breakdown,
    BucketStats,
    ChannelStats,
    Compliance,
    CurvePoint,
    DecisionCount,
    FxInfo,
    GroupStats,
    HourStats,
    Money,
    Population,
    RateUsed,
    Report,
    TemplateStats,
)
from services.reporting.sends import final_status

ALL = "all"
RATE = Decimal("0.0001")
_RATIO = Decimal("0.000001")
_DAYS = Decimal("0.1")
_DAY_SECONDS = Decimal(86_400)

BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("1-30", 1, 30),
    ("31-60", 31, 60),
    ("61-90", 61, 90),
    ("90+", 91, None),
)
"""Days-past-due buckets; "90+" is more than 90 days."""

NOT_CONTACTED = "not contacted"
UNKNOWN_STEP = "unknown step"
NO_PROFILE = "no profile"


def compute(
    envelopes: Iterable[Envelope[BaseModel]],
    *,
    grace_days: int = 2,
    fx: Fx | None = None,
    experiment: Experiment | None = None,
) -> Report:
    """The report over every event given, in any order, duplicates included. ``fx`` None: the shipped rates
    (deploy/fx/rates.toml); ``experiment`` None: the shipped standard strategy's split and segments."""
    fx = fx or Fx.load()
    experiment = experiment or Experiment.load()
    log = index(envelopes, fx)
    arms = _arm_names(log, experiment)
    arm_stats = [_arm_stats(log, arm, grace_days) for arm in arms]
    return Report(
        as_of=log.as_of,
        events=log.events,
        grace_days=grace_days,
        currency=fx.currency,
        fx=FxInfo(
            currency=fx.currency,
            source=fx.source,
            description=fx.table.source,
            rates=[
                RateUsed(currency=r.currency, applies_from=r.applies_from, rate=r.rate, amounts=n)
                for r, n in sorted(
                    log.rates_used.items(), key=lambda item: (item[0].currency, item[0].applies_from)
                )
            ],
        ),
        population=_population(log),
        total=_arm_stats(log, None, grace_days),
        arms=arm_stats,
        channels=_channel_stats(log, None),
        sample_ratio=sample_ratio(log, experiment),
        comparisons=compare(log, arms, experiment, grace_days),
        breakdowns=_breakdowns(log, experiment),
        templates=_templates(log),
        opt_outs_without_send=_opt_outs_without_send(log),
        hours_unknown=_hours_unknown(log),
        compliance=_compliance(log.decisions.values()),
    )


def _arm_names(log: Log, experiment: Experiment) -> list[str]:
    """Configured arms first in their configured order (the champion leads), then any other arm the log
    names, then ``unassigned`` if some account or contact has no arm."""
    present = {*log.arms.values(), *(c.arm for c in log.contacts.values())} - {UNASSIGNED}
    arms = [a for a in experiment.shares if a in present] + sorted(present - set(experiment.shares))
    if any(c.arm == UNASSIGNED for c in log.contacts.values()) or any(
        log.arm_of(a.debtor_id) == UNASSIGNED for a in log.accounts.values()
    ):
        arms.append(UNASSIGNED)
    return arms


def accounts_of(log: Log, arm: str | None) -> list[Account]:
    return [a for a in log.accounts.values() if arm is None or log.arm_of(a.debtor_id) == arm]


def contacts_of(log: Log, arm: str | None) -> list[Contact]:
    return [c for c in log.contacts.values() if arm is None or c.arm == arm]


# ---- KPIs per arm ---------------------------------------------------------------------------


def _arm_stats(log: Log, arm: str | None, grace_days: int) -> ArmStats:
    accounts = accounts_of(log, arm)
    contacts = contacts_of(log, arm)
    channels = _channel_stats(log, arm)
    voice = [c for c in contacts if c.channel is Channel.VOICE and c.accepted_at is not None]
    promises = [(a, p) for a in accounts for p in a.promises]
    verdicts = Counter(promise_verdict(a, p, grace_days, log.as_of) for a, p in promises)
    cured = [a for a in accounts if a.cured_at is not None]
    recovered = [p for a in accounts for p in a.recovered()]
    recovered_total = sum((p.value for p in recovered), Decimal(0))
    overdue_total = sum((a.outstanding_value for a in accounts), Decimal(0))
    cost_total = sum((c.cost_value for c in contacts), Decimal(0))
    days = [
        (Decimal(int((a.cured_at - a.entered).total_seconds())) / _DAY_SECONDS).quantize(_DAYS)
        for a in cured
        if a.cured_at is not None
    ]
    escalations = Counter(
        e.kind.value
        for e in log.escalations.values()
        if arm is None or (e.arm or log.arm_of(e.debtor_id)) == arm
    )
    return ArmStats(
        arm=arm or ALL,
        debtors=len({a.debtor_id for a in accounts}),
        accounts=len(accounts),
        requested=sum(c.requested for c in channels),
        attempted=sum(c.attempted for c in channels),
        delivered=sum(c.delivered for c in channels),
        rpc_rate=rate(sum(c.conversation for c in voice), len(voice)),
        accounts_promised=sum(1 for a in accounts if a.promises),
        promise_rate=rate(sum(1 for a in accounts if a.promises), len(accounts)),
        promises=len(promises),
        promises_kept=verdicts["kept"],
        promises_broken=verdicts["broken"],
        promises_pending=verdicts["pending"],
        kept_rate=rate(verdicts["kept"], verdicts["kept"] + verdicts["broken"]),
        cured=len(cured),
        cure_rate=rate(len(cured), len(accounts)),
        overdue_at_entry=_sum_money((a.currency, a.outstanding) for a in accounts),
        overdue_at_entry_total=overdue_total,
        recovered=_sum_money((p.event.currency, p.event.amount) for p in recovered),
        recovered_total=recovered_total,
        recovery_rate=ratio(recovered_total, overdue_total, _RATIO),
        median_days_to_recovery=statistics.median(days).quantize(_DAYS) if days else None,
        cost=_sum_money((o.cost_currency, o.cost) for c in contacts for o in c.outcomes),
        cost_total=cost_total,
        cost_to_collect=ratio(cost_total, recovered_total, _RATIO),
        escalations=dict(sorted(escalations.items())),
        channels=channels,
        curve=_curve(accounts, log.as_of),
        buckets=_buckets(accounts),
        hours=_hours(log, contacts),
    )


# ---- channels: the funnel and last-touch attribution ---------------------------------------------


def _channel_stats(log: Log, arm: str | None) -> list[ChannelStats]:
    contacts = contacts_of(log, arm)
    sends = log.sends()
    promised: Counter[Channel] = Counter()
    recovered: dict[Channel, list[tuple[str, Decimal, Decimal]]] = defaultdict(list)
    promise_sends: set[str] = set()
    paying_sends: set[str] = set()
    for account in accounts_of(log, arm):
        mine = sends.get(account.debtor_id, [])
        for promise in account.promises:
            if (send := last_send(mine, promise.recorded_at)) is not None:
                promised[send.channel] += 1
                promise_sends.add(send.request_id)
        for payment in account.recovered():
            if (send := last_send(mine, payment.event.posted_at)) is not None:
                recovered[send.channel].append((payment.event.currency, payment.event.amount, payment.value))
                paying_sends.add(send.request_id)
    stats = []
    for channel in Channel:
        mine = [c for c in contacts if c.channel is channel]
        attempted = [c for c in mine if c.accepted_at is not None]
        conversations = sum(c.conversation for c in attempted)
        cost_total = sum((c.cost_value for c in mine), Decimal(0))
        recovered_total = sum((value for _, _, value in recovered[channel]), Decimal(0))
        stats.append(
            ChannelStats(
                channel=channel.value,
                requested=sum(c.requested for c in mine),
                approved=sum(c.approved for c in mine),
                attempted=len(attempted),
                delivered=sum(c.delivered for c in attempted),
                right_party=sum(c.right_party for c in attempted),
                conversations=conversations,
                rpc_rate=rate(conversations, len(attempted)) if channel is Channel.VOICE else None,
                promised=sum(1 for c in attempted if c.request_id in promise_sends),
                paid=sum(1 for c in attempted if c.request_id in paying_sends),
                outcomes=_outcomes(mine),
                cost=_sum_money((o.cost_currency, o.cost) for c in mine for o in c.outcomes),
                cost_total=cost_total,
                promises=promised[channel],
                recovered=_sum_money((currency, amount) for currency, amount, _ in recovered[channel]),
                recovered_total=recovered_total,
                cost_to_collect=ratio(cost_total, recovered_total, _RATIO),
            )
        )
    return stats


def _outcomes(contacts: list[Contact]) -> dict[str, int]:
    counts = Counter(
        (status.value if (status := final_status(c.outcomes)) is not None else "pending") for c in contacts
    )
    return dict(sorted(counts.items()))


# ---- curves, buckets, hours ---------------------------------------------------------------------


def day_of(at: datetime, entered: datetime) -> int:
    return max(0, (at - entered).days)


def _curve(accounts: list[Account], as_of: datetime | None) -> list[CurvePoint]:
    """Shares by day since entry over the accounts observed at least that many whole days, so that accounts
    that entered late do not pull the curve down for days they have not had yet."""
    if as_of is None or not accounts:
        return []
    observed = {id(a): day_of(as_of, a.entered) for a in accounts}
    points = []
    for day in range(max(observed.values()) + 1):
        cohort = [a for a in accounts if observed[id(a)] >= day]
        cured = sum(1 for a in cohort if a.cured_at is not None and day_of(a.cured_at, a.entered) <= day)
        recovered = sum(
            (p.value for a in cohort for p in a.recovered() if day_of(p.event.posted_at, a.entered) <= day),
            Decimal(0),
        )
        overdue = sum((a.outstanding_value for a in cohort), Decimal(0))
        points.append(
            CurvePoint(
                day=day,
                accounts=len(cohort),
                cured=cured,
                cure_share=rate(cured, len(cohort)),
                recovered_share=ratio(recovered, overdue, RATE),
            )
        )
    return points


def bucket_of(days_past_due: int) -> int:
    for position, (_, low, high) in enumerate(BUCKETS):
        if days_past_due >= low and (high is None or days_past_due <= high):
            return position
    return 0


def _buckets(accounts: list[Account]) -> list[BucketStats]:
    """For each bucket, the accounts that reached it, by what came first after their first notice in it: a
    notice in a worse bucket (rolled), a cure (cured), or neither by the end of the log."""
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    for account in accounts:
        notices = sorted(account.notices)
        for position in range(len(BUCKETS)):
            reached = next((at for at, dpd in notices if bucket_of(dpd) == position), None)
            if reached is None:
                continue
            worse = next((at for at, dpd in notices if at > reached and bucket_of(dpd) > position), None)
            cure = next((at for at in account.cures if at >= reached), None)
            if worse is not None and (cure is None or worse < cure):
                outcome = "rolled"
            elif cure is not None:
                outcome = "cured"
            else:
                outcome = "neither"
            counts[position]["accounts"] += 1
            counts[position][outcome] += 1
    return [
        BucketStats(
            bucket=name,
            accounts=counts[position]["accounts"],
            rolled=counts[position]["rolled"],
            roll_rate=rate(counts[position]["rolled"], counts[position]["accounts"]),
            cured=counts[position]["cured"],
            cure_rate=rate(counts[position]["cured"], counts[position]["accounts"]),
            neither=counts[position]["neither"],
        )
        for position, (name, _, _) in enumerate(BUCKETS)
    ]


def local_hour(log: Log, contact: Contact) -> int | None:
    """The hour of the send on the debtor's clock: the primary zone of the newest profile at the send."""
    at = contact.accepted_at
    profile = log.profile(contact.debtor_id, at) if at is not None else None
    zone = primary_zone(profile, at) if profile is not None and at is not None else None
    return at.astimezone(ZoneInfo(zone)).hour if zone is not None and at is not None else None


def _hours(log: Log, contacts: list[Contact]) -> list[HourStats]:
    counts: dict[int, Counter[str]] = defaultdict(Counter)
    for contact in contacts:
        if contact.accepted_at is None or (hour := local_hour(log, contact)) is None:
            continue
        counts[hour]["sends"] += 1
        counts[hour]["delivered"] += contact.delivered
        if contact.channel is Channel.VOICE:
            counts[hour]["calls"] += 1
            counts[hour]["conversations"] += contact.conversation
    return [
        HourStats(
            hour=hour,
            sends=c["sends"],
            delivered=c["delivered"],
            contact_rate=rate(c["delivered"], c["sends"]),
            calls=c["calls"],
            conversations=c["conversations"],
            rpc_rate=rate(c["conversations"], c["calls"]),
        )
        for hour, c in sorted(counts.items())
    ]


def _hours_unknown(log: Log) -> int:
    return sum(1 for c in log.contacts.values() if c.accepted_at is not None and local_hour(log, c) is None)


# ---- breakdowns, templates, population ----------------------------------------------------------


def _breakdowns(log: Log, experiment: Experiment) -> list[Breakdown]:
    first_step: dict[tuple[str, str], tuple[datetime, str, str]] = {}
    cost: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for contact in log.contacts.values():
        key = (contact.debtor_id, contact.account_id)
        cost[key] += contact.cost_value
        if contact.requested_at is not None:
            candidate = (contact.requested_at, contact.request_id, contact.step)
            first_step[key] = min(first_step.get(key, candidate), candidate)

    def segment(account: Account) -> str:
        found = first_step.get((account.debtor_id, account.account_id))
        if found is None:
            return NOT_CONTACTED
        return experiment.segments.get(found[2], UNKNOWN_STEP)

    def jurisdiction(account: Account) -> str:
        profile = log.profile(account.debtor_id, log.as_of) if log.as_of is not None else None
        return "/".join(sorted(profile.jurisdictions)) if profile and profile.jurisdictions else NO_PROFILE

    dimensions: list[tuple[str, Callable[[Account], str]]] = [
        ("segment", segment),
        ("product", lambda a: a.product),
        ("jurisdiction", jurisdiction),
        ("currency", lambda a: a.currency),
    ]
    return [
        Breakdown(dimension=name, groups=_groups(log.accounts.values(), key, cost))
        for name, key in dimensions
    ]


def _groups(
    accounts: Iterable[Account], key: Callable[[Account], str], cost: dict[tuple[str, str], Decimal]
) -> list[GroupStats]:
    grouped: dict[str, list[Account]] = defaultdict(list)
    for account in accounts:
        grouped[key(account)].append(account)
    groups = []
    for name, mine in sorted(grouped.items()):
        cured = sum(1 for a in mine if a.cured_at is not None)
        recovered = [p for a in mine for p in a.recovered()]
        recovered_total = sum((p.value for p in recovered), Decimal(0))
        overdue_total = sum((a.outstanding_value for a in mine), Decimal(0))
        cost_total = sum((cost[(a.debtor_id, a.account_id)] for a in mine), Decimal(0))
        groups.append(
            GroupStats(
                key=name,
                accounts=len(mine),
                cured=cured,
                cure_rate=rate(cured, len(mine)),
                overdue_at_entry=_sum_money((a.currency, a.outstanding) for a in mine),
                overdue_at_entry_total=overdue_total,
                recovered=_sum_money((p.event.currency, p.event.amount) for p in recovered),
                recovered_total=recovered_total,
                recovery_rate=ratio(recovered_total, overdue_total, _RATIO),
                cost_total=cost_total,
                cost_to_collect=ratio(cost_total, recovered_total, _RATIO),
            )
        )
    return groups


def _opt_out_sends(log: Log) -> list[tuple[ev.ConsentChanged, Contact | None]]:
    """Each opt-out with the send it follows: the debtor's last send on that channel to that address."""
    sends = log.sends()
    credited = []
    for change in log.opt_outs:
        mine = [c for c in sends.get(change.debtor_id, []) if c.destination == change.address]
        credited.append((change, last_send(mine, change.occurred_at, change.channel)))
    return credited


def _templates(log: Log) -> list[TemplateStats]:
    sends: Counter[tuple[str, str]] = Counter(
        (c.channel.value, c.template or "-") for c in log.contacts.values() if c.accepted_at is not None
    )
    opt_outs: Counter[tuple[str, str]] = Counter(
        (send.channel.value, send.template or "-") for _, send in _opt_out_sends(log) if send is not None
    )
    return [
        TemplateStats(
            channel=channel,
            template=template,
            sends=n,
            opt_outs=opt_outs[(channel, template)],
            opt_out_rate=rate(opt_outs[(channel, template)], n),
        )
        for (channel, template), n in sorted(sends.items())
    ]


def _opt_outs_without_send(log: Log) -> int:
    return sum(1 for _, send in _opt_out_sends(log) if send is None)


def _population(log: Log) -> Population:
    counted = set(log.accounts)
    never = log.accounts_named - counted
    return Population(
        debtors_in_log=len(log.debtors_named),
        debtors_counted=len({debtor for debtor, _ in counted}),
        accounts_in_log=len(log.accounts_named | counted),
        accounts_counted=len(counted),
        accounts_never_overdue=len(never),
        accounts_never_overdue_with_payments=len(never & log.paid_not_in_collections),
        payments_before_entry=log.payments_before_entry,
        accounts_unassigned=sum(1 for a in log.accounts.values() if log.arm_of(a.debtor_id) == UNASSIGNED),
    )


def _compliance(decisions: Iterable[ev.ComplianceDecision]) -> Compliance:
    by_decision: Counter[str] = Counter()
    by_reason: Counter[tuple[str, str]] = Counter()
    several = 0
    for decision in decisions:
        by_decision[decision.decision.value] += 1
        several += len(set(decision.reasons)) > 1
        for reason in sorted({r.value for r in decision.reasons}) or ["none"]:
            by_reason[(decision.decision.value, reason)] += 1
    return Compliance(
        decisions=dict(sorted(by_decision.items())),
        several_reasons=several,
        by_reason=[
            DecisionCount(decision=d, reason=r, count=n, share=rate(n, by_decision[d]))
            for (d, r), n in sorted(by_reason.items(), key=lambda item: (item[0][0], -item[1], item[0][1]))
        ],
    )


# ---- money and rates ------------------------------------------------------------------------


def _sum_money(items: Iterable[tuple[str, Decimal]]) -> Money:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for currency, amount in items:
        if amount:
            totals[currency] += amount
    return dict(sorted(totals.items()))


def ratio(part: Decimal, whole: Decimal, places: Decimal) -> Decimal | None:
    return (part / whole).quantize(places, ROUND_HALF_EVEN) if whole else None


def rate(part: int, whole: int) -> Decimal | None:
    return (Decimal(part) / Decimal(whole)).quantize(RATE, ROUND_HALF_EVEN) if whole else None
