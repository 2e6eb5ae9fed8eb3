"""What every figure of the report means, in one place: the text and HTML views print each definition beside
the table that shows the figure, and docs/reporting.md gives the same words at length. ``{currency}`` stands
for the report's currency."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Figure:
    label: str
    definition: str


FIGURES: dict[str, Figure] = {
    f.label: f
    for f in (
        # ---- accounts and arms
        Figure("arm", "strategy arm of the debtor: the arm of their first contact request (all = every arm)"),
        Figure("debtors", "distinct debtors with an account in collections"),
        Figure("accounts", "accounts in collections: accounts with at least one AccountOverdue"),
        # ---- contacts
        Figure("requested", "contact requests (ContactRequested) from escalation"),
        Figure("approved", "requests the compliance gatekeeper approved (ContactApproved)"),
        Figure(
            "attempted",
            "sends: requests the provider accepted (sent, delivered, undelivered, busy, no answer, "
            "voicemail, conversation, replied, agent transfer)",
        ),
        Figure(
            "delivered",
            "sends that reached the debtor's device: SMS delivery receipt, email accepted by the receiving "
            "server, call answered by a person or a machine",
        ),
        Figure(
            "right party",
            "sends the debtor themself answered: a conversation or agent transfer on a call, a reply to "
            "an SMS or an email",
        ),
        Figure(
            "RPC rate", "right-party contact rate: calls with a conversation or agent transfer / calls made"
        ),
        Figure(
            "promise",
            "sends that were the debtor's last send before a promise to pay (last-touch attribution)",
        ),
        Figure("paid", "sends that were the debtor's last send before a payment (last-touch attribution)"),
        # ---- promises
        Figure("promise rate", "accounts with at least one promise to pay / accounts"),
        Figure(
            "kept rate",
            "kept promises / (kept + broken): kept when payments in its currency from its recording to its "
            "date plus the grace days reach its amount; pending ones are left out",
        ),
        Figure("promises", "promises to pay recorded on accounts in collections"),
        # ---- cure and recovery
        Figure("cured", "accounts back to 0 days past due after entering: paid in full, or marked cured"),
        Figure("cure rate", "cured accounts / accounts"),
        Figure("median days", "median, over cured accounts, of days from entering collections to the cure"),
        Figure(
            "overdue ({currency})",
            "total outstanding at entry (first AccountOverdue), converted on the day of entry",
        ),
        Figure(
            "recovered ({currency})",
            "payments posted on accounts in collections at or after entry, each converted on its posting day",
        ),
        Figure("recovery rate", "recovered / overdue at entry, both in {currency}"),
        Figure("cost ({currency})", "provider cost of every contact (SMS segments, call minutes), converted"),
        Figure("cost to collect", "cost / recovered, both in {currency}"),
        # ---- curves
        Figure("day", "whole days since the account entered collections"),
        Figure("observed", "accounts in collections for at least that many days by the end of the log"),
        Figure("cured share", "of the accounts observed that long, the share cured by that day"),
        Figure(
            "recovered share",
            "of the accounts observed that long, recovered by that day / their overdue at entry ({currency})",
        ),
        # ---- buckets
        Figure("bucket", "days-past-due bucket of an AccountOverdue notice; 90+ is more than 90 days"),
        Figure("reached", "accounts with at least one notice in the bucket"),
        Figure("rolled", "reached accounts whose next event was a notice in a worse bucket"),
        Figure("roll rate", "rolled / reached"),
        Figure("cured from", "reached accounts cured before any notice in a worse bucket"),
        Figure("bucket cure rate", "cured from the bucket / reached"),
        Figure("neither", "reached accounts neither rolled nor cured by the end of the log"),
        # ---- breakdowns
        Figure(
            "segment",
            "strategy segment of the account's first contact request (its step's segment in the strategy "
            "file)",
        ),
        Figure("product", "product of the account's first AccountOverdue"),
        Figure("jurisdiction", "jurisdictions of the debtor's newest profile"),
        Figure("currency", "currency the account is booked in"),
        Figure("overdue (booked)", "total outstanding at entry in the account's own currency"),
        Figure("recovered (booked)", "payments at or after entry in the account's own currency"),
        # ---- channels
        Figure("channel", "the contact's channel"),
        Figure("promises*", "promises credited to the channel of the debtor's last send before them"),
        Figure(
            "recovered* ({currency})",
            "payments credited to the channel of the debtor's last send before them",
        ),
        Figure("cost to collect*", "the channel's cost / the payments credited to it"),
        Figure(
            "per account ({currency})", "cost per account: the channel's cost in the arm / the arm's accounts"
        ),
        Figure("outcome", "final status of the request (its latest final outcome; pending: none yet)"),
        Figure("requests", "contact requests with that final outcome"),
        # ---- templates and hours
        Figure("template", "message template of the send"),
        Figure("sends", "requests the provider accepted"),
        Figure(
            "opt-outs",
            "opt-outs (ConsentChanged opt_out) credited to the last send on that channel to that address",
        ),
        Figure("opt-out rate", "opt-outs / sends of the template"),
        Figure("local hour", "hour of the send on the debtor's clock (primary zone of their profile)"),
        Figure("contact rate", "delivered / sends in that local hour"),
        Figure("calls", "voice sends in that local hour"),
        Figure("conversations", "calls with a conversation or agent transfer"),
        # ---- escalations and compliance
        Figure("kind", "escalation raised (EscalationRaised) for people or processes outside outreach"),
        Figure("count", "number of events"),
        Figure("decision", "the gatekeeper's decision: allow, defer or block"),
        Figure("decisions", "compliance decisions of that kind"),
        Figure("reason", "reason code on the decision (none: an allow without reasons)"),
        Figure(
            "with reason",
            "decisions of that kind carrying the reason; one decision may carry several reasons",
        ),
        Figure("share", "decisions carrying the reason / decisions of that kind"),
        # ---- champion vs challenger
        Figure("KPI", "the figure compared between the arms"),
        Figure("unit", "what one observation is (accounts, judged promises, calls)"),
        Figure("champion", "the champion's value (a rate, or a mean per account)"),
        Figure("challenger", "the challenger's value"),
        Figure("difference", "challenger - champion"),
        Figure("n", "observations: champion / challenger"),
        Figure(
            "test",
            "two-proportion z test for rates (Fisher's exact test when an expected cell is below 5); "
            "Mann-Whitney U test for amounts per account; all two-sided",
        ),
        Figure("statistic", "the test's statistic: z, U (challenger's), or Fisher's odds ratio"),
        Figure("p", "p-value of the test alone"),
        Figure("Holm p", "p-value after Holm's correction across every test in this report"),
        Figure("verdict", "significant at 95% when the Holm p is below 0.05"),
        # ---- sample ratio
        Figure("configured", "share of debtors the strategy file assigns to the arm"),
        Figure("observed debtors", "debtors with that arm in the log"),
        Figure("observed share", "observed debtors / debtors with any arm"),
        # ---- exchange rates
        Figure("rate", "units of {currency} per unit of the currency"),
        Figure("applies from", "date of the rate used: the newest on or before the amount's date"),
        Figure("amounts", "amounts converted at that rate"),
    )
}


def define(label: str, currency: str) -> Figure:
    """The figure for a column label (``{currency}`` filled in); unknown labels are a bug."""
    figure = FIGURES[label]
    return Figure(figure.label.format(currency=currency), figure.definition.format(currency=currency))
