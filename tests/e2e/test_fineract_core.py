"""The whole platform with core banking as Apache Fineract: the simulated bank writes Fineract's records
(8-byte keys, Avro single-object MessageV1, no headers) to Fineract's topic, the adapter turns them into the
platform's events, and outreach runs on them as on the bank's own contract, audit clean. The bank still
publishes what Fineract does not know: profiles (time zones, consents, jurisdictions) and agents' promises."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from schemas import events as ev
from tests.fault.stack import Platform, check_audit_clean, check_every_request_ends_once

DAYS = 4


async def test_the_demo_with_fineract_as_core_banking_is_audit_clean(tmp_path: Path) -> None:
    async with Platform(tmp_path / "stack", days=DAYS, core="fineract") as platform:
        played = await platform.play()

    sources = Counter((type(e.event).__name__, e.source) for e in played.log if e.source.startswith("/"))
    assert sources[("AccountOverdue", "/fineract/default")] > 0
    assert sources[("PaymentPosted", "/fineract/default")] > 0
    assert sources[("AccountStatusChanged", "/fineract/default")] > 0  # cures: out of every delinquency range
    assert sources[("DebtorProfileUpdated", "/core-banking")] == len(platform.debtors)
    assert not [kind for kind, source in sources if source == "/core-banking" and kind in FINERACT_SAYS]
    # Fineract's ids: the adapter names debtors and accounts by the client's and the loan's numbers.
    requests = played.events(ev.ContactRequested)
    assert requests and all(r.debtor_id.isdigit() and r.account_id.isdigit() for r in requests)
    check_every_request_ends_once(played)
    assert check_audit_clean(played) > 0


FINERACT_SAYS = {"AccountOverdue", "PaymentPosted", "AccountStatusChanged"}
