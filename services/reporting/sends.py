"""What the outcome log says about one request: whether the provider accepted it (a send happened), whether
it reached the debtor, and its final status. The report and the audit share these definitions, so that the
sends the report counts are the sends the audit checks."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from schemas import events as ev
from schemas.vocab import Channel, OutcomeStatus

S = OutcomeStatus

ACCEPTED: frozenset[OutcomeStatus] = frozenset(
    {S.SENT, S.DELIVERED, S.UNDELIVERED, S.BUSY, S.NO_ANSWER, S.VOICEMAIL, S.CONVERSATION, S.REPLIED,
     S.AGENT_TRANSFER}
)  # fmt: skip
"""The provider took the message, mail or call: the contact left the platform. Not accepted: ``approved``
(only the gatekeeper's permission), ``failed`` and ``opted_out`` (refused at creation), ``not_connected``
without an earlier ``sent``, ``unknown`` (the worker could not tell), ``blocked``, ``expired``,
``cancelled``."""

DELIVERED: dict[Channel, frozenset[OutcomeStatus]] = {
    Channel.SMS: frozenset({S.DELIVERED, S.REPLIED}),
    Channel.EMAIL: frozenset({S.SENT, S.DELIVERED, S.REPLIED}),
    Channel.VOICE: frozenset({S.CONVERSATION, S.VOICEMAIL, S.AGENT_TRANSFER}),
}
"""Reached the debtor's handset or mailbox: a delivery receipt for SMS; acceptance by the receiving mail
server for email (SMTP gives no later receipt); a call answered by a person or a machine."""

CONVERSATION: frozenset[OutcomeStatus] = frozenset({S.CONVERSATION, S.AGENT_TRANSFER})
"""A person answered a call and stayed on the line (pressed a key, or was put through to an agent)."""


def accepted_at(outcomes: Iterable[ev.ContactOutcome]) -> datetime | None:
    """When the provider first accepted the request (its earliest accepting outcome), or None if never."""
    times = [o.occurred_at for o in outcomes if o.status in ACCEPTED]
    return min(times) if times else None


def final_status(outcomes: Iterable[ev.ContactOutcome]) -> OutcomeStatus | None:
    """The status a request ended with: its latest final outcome, else its latest outcome."""
    ordered = sorted(outcomes, key=lambda o: (o.final, o.occurred_at))
    return ordered[-1].status if ordered else None
