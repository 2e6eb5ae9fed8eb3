"""The debtor portal end to end: the real broker (SASL_SSL, the portal's own principal and ACLs), the portal
in-process, and Debian's headless Chromium without JavaScript. Each action is checked on Kafka, once, even
when its form is submitted twice; screenshots of every page in en-US and zh-CN go to var/screenshots/."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from schemas import events as ev
from schemas.events import KnowledgeFactorKind as K
from schemas.topics import ACCOUNT, CONSENT
from schemas.vocab import Channel, OutcomeStatus
from services.core.settings import CommonSettings
from tests.integration.portal.conftest import AXE, SCREENSHOTS, Portals, factor, link
from tests.support import Tail, eventually, publish

NOW = datetime.now(UTC)
PHONE = "+12125550100"
AXE_RUN = (
    "async () => await axe.run(document, "
    "{runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice']})"
)
CN_PHONE = "+8613812345678"


def debtor_events(debtor: str, language: str, phone: str, zone: str, currency: str) -> list[Any]:
    return [
        ev.DebtorProfileUpdated(
            debtor_id=debtor,
            contact_points=[
                ev.ContactPoint(type=ev.ContactPointType.PHONE, address=phone, consents=[Channel.SMS])
            ],
            timezone=zone,
            language=language,
            jurisdictions=["US"] if currency == "USD" else ["CN"],
            knowledge_factors=[factor(K.DATE_OF_BIRTH, "1980-03-07"), factor(K.POSTCODE, "10001")],
        ),
        ev.AccountOverdue(
            debtor_id=debtor,
            account_id=f"{debtor}-acct-4321",
            product="personal_loan",
            currency=currency,
            amount_due=Decimal("120.00"),
            total_outstanding=Decimal("900.00"),
            days_past_due=35,
            due_date=date(2026, 5, 6),
            as_of=NOW - timedelta(days=2),
        ),
        ev.PaymentPosted(
            debtor_id=debtor,
            account_id=f"{debtor}-acct-4321",
            payment_id=f"{debtor}-pay-1",
            currency=currency,
            amount=Decimal("20.00"),
            outstanding_after=Decimal("880.00"),
            posted_at=NOW - timedelta(days=1),
        ),
        ev.ContactOutcome(
            debtor_id=debtor,
            outcome_id=f"{debtor}-o1",
            request_id=f"{debtor}-r1",
            account_id=f"{debtor}-acct-4321",
            channel=Channel.SMS,
            status=OutcomeStatus.DELIVERED,
            final=True,
            occurred_at=NOW - timedelta(days=1),
        ),
    ]


async def portal_with_debtors(settings: CommonSettings, portals: Portals) -> Any:
    events = [
        *debtor_events("d-us", "en-US", PHONE, "America/New_York", "USD"),
        *debtor_events("d-cn", "zh-CN", CN_PHONE, "Asia/Shanghai", "CNY"),
    ]
    await publish(settings, events, time=NOW - timedelta(days=1))
    return await portals.start()


async def shot(page: Any, name: str) -> None:
    """A screenshot of the page at a phone's width, which nothing on it exceeds."""
    assert await page.evaluate("document.documentElement.scrollWidth") <= 390, name
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"portal-{name}.png"), full_page=True)


async def fields(page: Any, form: str) -> dict[str, str]:
    inputs = await page.query_selector_all(f"form#{form} input[type=hidden]")
    return {await i.get_attribute("name"): await i.get_attribute("value") for i in inputs}


async def verify(page: Any, running: Any, debtor: str, address: str, answer: str, lang: str) -> None:
    await page.goto(link(running.base, debtor, address, NOW))
    await shot(page, f"verify-{lang}")
    await page.fill("#answer", answer)
    await page.click("form#verify button")
    await page.wait_for_url("**/account")


async def test_verify_see_what_is_owed_and_promise_once(
    settings: CommonSettings, portals: Portals, page: Any
) -> None:
    running = await portal_with_debtors(settings, portals)
    response = await page.goto(link(running.base, "d-us", PHONE, NOW))
    assert response.status == 200
    headers = response.headers
    assert "script-src" not in headers["content-security-policy"]
    assert "default-src 'none'" in headers["content-security-policy"]
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["cache-control"] == "no-store"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    text = await page.inner_text("main")
    # The link alone shows nothing about the debt.
    assert "120" not in text and "900" not in text and "4321" not in text and "loan" not in text
    assert "Date of birth" in text
    (cookie,) = await page.context.cookies()
    assert (cookie["secure"], cookie["httpOnly"], cookie["sameSite"]) == (True, True, "Strict")

    await page.fill("#answer", "1980-3-7")
    await page.click("form#verify button")
    await page.wait_for_url("**/account")
    text = await page.inner_text("main")
    assert "$100.00" in text  # 120 past due, 20 paid since
    assert "$880.00" in text and "…4321" in text and "Text message" in text
    await shot(page, "account-en-US")

    tomorrow = NOW.astimezone(ZoneInfo("America/New_York")).date() + timedelta(days=1)
    await page.fill("#amount", "50.00")
    await page.fill("#date", tomorrow.isoformat())
    form = await fields(page, "promise")
    await page.click("form#promise button")
    assert "Your promise is recorded" in await page.inner_text("#done")
    await shot(page, "promise-done-en-US")
    # The same form submitted again (a double click): the same answer, no second event.
    again = await page.context.request.post(
        f"{running.base}/promise",
        form={**form, "account": "d-us-acct-4321", "amount": "50.00", "date": tomorrow.isoformat()},
    )
    assert again.status == 200 and "Your promise is recorded" in await again.text()
    another = await page.context.request.post(
        f"{running.base}/promise",
        form={
            **form,
            "nonce": "another-nonce-aaaaaaaa",
            "account": "d-us-acct-4321",
            "amount": "5",
            "date": tomorrow.isoformat(),
        },
    )
    assert another.status == 200
    await page.click("a[href='/account']")
    await page.click("form#sign-out button")
    await shot(page, "signed-out-en-US")

    async with Tail(settings, ACCOUNT) as tail:
        await tail.wait_for(
            lambda: (
                len([p for p in tail.of(ev.PromiseToPayRecorded) if p.source is ev.PromiseSource.WEB]) >= 2
            )
        )
        await tail.settle()
    web = [p for p in tail.of(ev.PromiseToPayRecorded) if p.source is ev.PromiseSource.WEB]
    assert sorted((p.amount, p.promised_date) for p in web) == [
        (Decimal("5"), tomorrow),
        (Decimal("50.00"), tomorrow),
    ]
    assert all(p.debtor_id == "d-us" and p.account_id == "d-us-acct-4321" for p in web)
    assert running.metric("collections_portal_actions_total", action="promise", outcome="duplicate") == 1
    # The portal reads its own promises back into its read model.
    await eventually(lambda: all(running.app.book.seen(p.promise_id) for p in web))


async def test_an_invalid_promise_is_refused_and_nothing_is_published(
    settings: CommonSettings, portals: Portals, page: Any
) -> None:
    running = await portal_with_debtors(settings, portals)
    await verify(page, running, "d-us", PHONE, "1980-03-07", "en-US")
    await page.fill("#amount", "100.01")
    await page.fill("#date", "2020-01-01")
    await page.click("form#promise button")
    problems = await page.inner_text("#problems")
    assert "amount" in problems and "date" in problems
    await shot(page, "promise-invalid-en-US")
    assert running.metric("collections_portal_actions_total", action="promise", outcome="invalid") == 1


async def test_the_pages_in_chinese(settings: CommonSettings, portals: Portals, page: Any) -> None:
    running = await portal_with_debtors(settings, portals)
    await page.goto(link(running.base, "d-cn", CN_PHONE, NOW))
    assert "确认您的身份" in await page.inner_text("main")
    await shot(page, "verify-zh-CN")
    await page.fill("#answer", "1980-03-07")
    await page.click("form#verify button")
    await page.wait_for_url("**/account")
    text = await page.inner_text("main")
    assert "逾期金额" in text and "¥100.00" in text and "短信" in text
    assert await page.get_attribute("html", "lang") == "zh-CN"
    await shot(page, "account-zh-CN")
    await page.fill("#amount", "100.01")
    await page.click("form#promise button")
    await shot(page, "promise-invalid-zh-CN")
    tomorrow = NOW.astimezone(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=1)
    await page.fill("#amount", "30")
    await page.fill("#date", tomorrow.isoformat())
    await page.click("form#promise button")
    assert "¥30.00" in await page.inner_text("#done")
    await shot(page, "promise-done-zh-CN")
    await page.click("a[href='/account']")
    await page.click("form#sign-out button")
    assert "您已退出" in await page.inner_text("#done")
    await shot(page, "signed-out-zh-CN")
    assert (await page.goto(f"{running.base}/account")).status == 403
    await shot(page, "session-ended-zh-CN")


async def test_this_is_not_me_needs_no_verification_and_is_one_event(
    settings: CommonSettings, portals: Portals, page: Any
) -> None:
    running = await portal_with_debtors(settings, portals)
    await page.goto(link(running.base, "d-us", PHONE, NOW))
    form = await fields(page, "not-me")
    await page.click("form#not-me button")
    assert "will not use this phone number" in await page.inner_text("#done")
    await shot(page, "not-me-done-en-US")
    again = await page.context.request.post(f"{running.base}/not-me", form=form)
    assert again.status == 200
    # Not verified, and no verification follows on this session.
    assert (await page.goto(f"{running.base}/account")).status == 403
    await shot(page, "session-ended-en-US")
    async with Tail(settings, CONSENT) as tail:
        await tail.wait_for(lambda: bool(tail.of(ev.WrongPartyReported)))
        await tail.settle()
    (report,) = tail.of(ev.WrongPartyReported)
    assert (report.debtor_id, report.address, report.source) == ("d-us", PHONE, ev.WrongPartySource.PORTAL)
    assert running.metric("collections_portal_actions_total", action="not_me", outcome="duplicate") == 1


async def test_this_is_not_me_in_chinese(settings: CommonSettings, portals: Portals, page: Any) -> None:
    running = await portal_with_debtors(settings, portals)
    await page.goto(link(running.base, "d-cn", CN_PHONE, NOW))
    await page.click("form#not-me button")
    assert "不再" in await page.inner_text("#done")
    await shot(page, "not-me-done-zh-CN")


async def test_a_wrong_factor_locks_the_link_after_the_limit(
    settings: CommonSettings, portals: Portals, page: Any
) -> None:
    running = await portal_with_debtors(settings, portals)  # 3 attempts per link
    await page.goto(link(running.base, "d-us", PHONE, NOW))
    for left in (2, 1):
        await page.fill("#answer", "1999-01-01")
        await page.click("form#verify button")
        assert f"Attempts left: {left}" in await page.inner_text("#wrong")
    await shot(page, "verify-wrong-en-US")
    await page.fill("#answer", "1999-01-01")
    await page.click("form#verify button")
    assert "locked" in await page.inner_text("#locked")
    await shot(page, "verify-locked-en-US")
    # Locked: even the right answer is refused, and the same link opened again stays locked.
    csrf = (await fields(page, "not-me"))["csrf"]
    right = await page.context.request.post(
        f"{running.base}/verify", form={"csrf": csrf, "kind": "date_of_birth", "answer": "1980-03-07"}
    )
    assert right.status == 429
    await page.goto(link(running.base, "d-us", PHONE, NOW))
    assert await page.query_selector("#locked") is not None
    assert running.metric("collections_portal_verifications_total", outcome="wrong") == 2
    assert running.metric("collections_portal_verifications_total", outcome="locked") == 2


async def test_forged_expired_and_other_debtors_links_are_refused(
    settings: CommonSettings, portals: Portals, page: Any
) -> None:
    running = await portal_with_debtors(settings, portals)
    forged = link(running.base, "d-us", PHONE, NOW, key="somebody-elses-key-0123")
    response = await page.goto(forged)
    assert response.status == 403
    assert "not valid" in await page.inner_text("#refused")
    await shot(page, "link-refused-en-US")
    expired = link(running.base, "d-us", PHONE, NOW - timedelta(hours=73))
    assert (await page.goto(expired)).status == 403
    tampered = link(running.base, "d-us", PHONE, NOW).replace("token=", "token=x")
    assert (await page.goto(tampered)).status == 403
    assert running.metric("collections_portal_refused_total", reason="link_forged") == 2
    assert running.metric("collections_portal_refused_total", reason="link_expired") == 1
    # A verified session does not carry over to another debtor's link: that link starts unverified.
    await verify(page, running, "d-us", PHONE, "1980-03-07", "en-US")
    await page.goto(link(running.base, "d-cn", CN_PHONE, NOW))
    assert (await page.goto(f"{running.base}/account")).status == 403
    # Nor does anyone's session show what is owed without verification.
    assert "120" not in await page.content()


async def test_a_form_without_its_csrf_token_is_refused(
    settings: CommonSettings, portals: Portals, page: Any
) -> None:
    running = await portal_with_debtors(settings, portals)
    await page.goto(link(running.base, "d-us", PHONE, NOW))
    post = page.context.request.post
    answer = {"kind": "date_of_birth", "answer": "1980-03-07"}
    assert (await post(f"{running.base}/verify", form=answer)).status == 403
    assert (await post(f"{running.base}/verify", form={**answer, "csrf": "guessed"})).status == 403
    assert (await post(f"{running.base}/not-me", form={"nonce": "n" * 22})).status == 403
    assert running.metric("collections_portal_verifications_total", outcome="wrong") == 0
    await page.fill("#answer", "1980-03-07")
    await page.click("form#verify button")
    await page.wait_for_url("**/account")
    form = {"nonce": "n" * 22, "account": "d-us-acct-4321", "amount": "5", "date": "2030-01-01"}
    refused = await post(f"{running.base}/promise", form=form)
    assert refused.status == 403 and "expired" in await refused.text()
    assert running.metric("collections_portal_refused_total", reason="csrf") == 4


async def test_axe_finds_no_serious_or_critical_problem(
    settings: CommonSettings, portals: Portals, browser: Any
) -> None:
    if not AXE.exists():
        pytest.skip("axe-core is not installed: `make chromium` installs it under var/node when npm works")
    running = await portal_with_debtors(settings, portals)
    # JavaScript on (and the page's CSP bypassed) only to run axe; the portal itself sends no script.
    context = await browser.new_context(bypass_csp=True, viewport={"width": 390, "height": 844})
    page = await context.new_page()
    found: dict[str, list[str]] = {}

    async def check(name: str) -> None:
        await page.add_script_tag(path=str(AXE))
        result = await page.evaluate(AXE_RUN)
        found[name] = [v["id"] for v in result["violations"] if v["impact"] in ("serious", "critical")]

    try:
        for debtor, phone in (("d-us", PHONE), ("d-cn", CN_PHONE)):
            await page.goto(link(running.base, debtor, phone, NOW))
            await check(f"{debtor} verify")
            await page.fill("#answer", "1980-03-07")
            await page.click("form#verify button")
            await page.wait_for_url("**/account")
            await check(f"{debtor} account")
    finally:
        await context.close()
    assert found == {name: [] for name in found}
    assert len(found) == 4
