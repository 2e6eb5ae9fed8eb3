"""A writer with access to the account topic cannot opt a debtor back in, nor ask for a contact: a
ConsentChanged and a ContactRequested written to ``collections.account.v1`` are dead-lettered
``wrong_topic``, never applied, so the debtor who replied STOP gets nothing; and the audit, reading the
topics, reports both."""

from __future__ import annotations

from datetime import timedelta

from schemas import events as ev
from schemas.topics import ACCOUNT, DEADLETTER
from schemas.vocab import Channel
from services.core import codec
from services.core.settings import CommonSettings
from services.core.signing import ApprovalVerifier
from services.reporting import provenance
from services.reporting.audit import audit
from services.reporting.reader import read_records
from tests.integration.gatekeeper.conftest import NY_PHONE, START, Harness, profile, request
from tests.support import APPROVAL_PUBLIC_KEY, Tail, produce


async def test_an_opt_in_and_a_request_on_the_account_topic_lead_to_no_send(
    gk: Harness, settings: CommonSettings
) -> None:
    at_ten = START + timedelta(hours=12)  # 10:00 in New York
    await gk.at(at_ten)
    await gk.send(profile("d-mis", ["US"]))
    stop = ev.ConsentChanged(
        debtor_id="d-mis",
        address=NY_PHONE,
        channel=Channel.SMS,
        change=ev.ConsentChange.OPT_OUT,
        source=ev.ConsentSource.SMS_REPLY,
        occurred_at=at_ten,
    )
    await gk.send(stop)
    later = at_ten + timedelta(minutes=5)
    await gk.at(later)
    forged_opt_in = stop.model_copy(update={"change": ev.ConsentChange.OPT_IN, "occurred_at": later})
    forged_request = request("d-mis", "r-mis").model_copy(update={"requested_at": later})
    records = []
    for event in (forged_opt_in, forged_request):
        enc = codec.encode(event, source="/core-banking", time=later)
        records.append((ACCOUNT, enc.key, enc.value, enc.headers))
    await produce(settings, records)
    await gk.stepper.wait_idle()
    await gk.tail.settle()

    assert gk.decisions("r-mis") == [] and gk.approvals("r-mis") == []
    async with Tail(settings, DEADLETTER) as letters:
        await letters.wait_for(lambda: len(letters.of(ev.DeadLetter)) >= 2)
        assert sorted(d.reason for d in letters.of(ev.DeadLetter)) == ["wrong_topic", "wrong_topic"]

    # A real request now: the STOP still holds.
    await gk.send(request("d-mis", "r-real").model_copy(update={"requested_at": later}))
    assert [d.reasons for d in gk.decisions("r-real")] == [["OPTED_OUT"]]

    kept, found = provenance.check(await read_records(settings), ApprovalVerifier([APPROVAL_PUBLIC_KEY]))
    violations = audit(kept, found).violations
    assert sorted((v.rule, v.detail) for v in violations) == [
        ("MISROUTED", "ConsentChanged on collections.account.v1"),
        ("MISROUTED", "ContactRequested on collections.account.v1"),
    ]
