"""Template tags and the lint's checks that they hold (limited content for third parties, the debt-advice
referral), and the zh-CN banned practices of the China Banking Association guideline (2026)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from schemas.vocab import Channel, TemplateTag
from services.core.settings import DEPLOY_DIR
from services.messaging.sms import count_segments
from services.messaging.templates import TemplateBook, lint
from tests.channels_support import VARIABLES

SHIPPED = DEPLOY_DIR / "templates"
T = TemplateTag


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    shutil.copytree(SHIPPED, root)
    return root


def problems_of(root: Path, relative: str) -> list[str]:
    return [problem.message for problem in lint(root) if problem.file == root / relative]


def retag(root: Path, template: str, tags: str) -> None:
    catalog = root / "catalog.toml"
    text = catalog.read_text(encoding="utf-8")
    header = f"[templates.{template}]\n"
    assert header in text
    start = text.index(header)
    end = text.find("\n[", start + 1)
    block = text[start : end if end > 0 else len(text)]
    lines = [line for line in block.splitlines() if not line.startswith("tags =")]
    catalog.write_text(text.replace(block, "\n".join([*lines, f"tags = {tags}"]) + "\n"), encoding="utf-8")


# --- the shipped catalog -----------------------------------------------------------------------------


def test_shipped_tags() -> None:
    book = TemplateBook.load(SHIPPED)
    tagged = {name: book.catalog.tags(name) for name in book.catalog.templates if book.catalog.tags(name)}
    assert tagged == {
        "reminder": {T.DEBT_ADVICE},
        "second_reminder": {T.DEBT_ADVICE},
        "call": {T.DEBT_ADVICE},
        "final_notice": {T.DEBT_ADVICE},
        "restructuring_offer": {T.FORBEARANCE_OFFER, T.DEBT_ADVICE},
        "callback_request": {T.LIMITED_CONTENT},
        "opt_out_confirmation": {T.OPT_OUT_CONFIRMATION, T.LIMITED_CONTENT},
    }
    assert book.catalog.tags("payment_link") == frozenset()


@pytest.mark.parametrize("locale", ["en-US", "en-GB", "zh-CN"])
def test_the_restructuring_offer_offers_plans_with_the_referral(locale: str) -> None:
    book = TemplateBook.load(SHIPPED)
    variables = {**book.catalog.samples, "currency": "CNY"}
    email = book.render(Channel.EMAIL, "restructuring_offer", locale, variables).parts
    assert variables["plan_12"] in email["text"] and variables["plan_12"] in email["html"]
    sms = book.render(Channel.SMS, "restructuring_offer", locale, variables).parts["body"]
    assert ("免费债务咨询" if locale == "zh-CN" else "Free debt advice") in sms
    assert variables["plan_3"] not in sms


@pytest.mark.parametrize("locale", ["en-US", "en-GB", "zh-CN"])
def test_the_callback_request_names_only_caller_callee_and_number(locale: str) -> None:
    book = TemplateBook.load(SHIPPED)
    variables = {**book.catalog.samples, "name": "Alex Doe"}
    for channel in (Channel.SMS, Channel.VOICE):
        for text in book.render(channel, "callback_request", locale, variables).parts.values():
            assert "Alex Doe" in text and variables["callback_number"] in text
            assert variables["payment_link"] not in text


# --- limited_content ------------------------------------------------------------------------------------


def test_a_limited_content_template_uses_no_credit_variable(templates: Path) -> None:
    relative = "en-US/sms/callback_request.body.j2"
    (templates / relative).write_text(
        "{{ company }}: {{ name }}, see {{ payment_link }}. Reply STOP to opt out.", encoding="utf-8"
    )
    assert problems_of(templates, relative) == [
        "uses 'payment_link', which is not provided to 'callback_request' on sms",
        "limited content: must not use 'payment_link' (tagged limited_content: reveals the credit)",
    ]


def test_limited_content_holds_in_every_part_of_every_channel(templates: Path) -> None:
    # The reminder's email mentions amounts and payments: tagging it limited_content is refused there too.
    retag(templates, "reminder", '["limited_content"]')
    problems = problems_of(templates, "en-US/email/reminder.text.j2")
    assert "limited content: must not use 'amount_due' (reveals the debt)" in problems
    assert (
        "limited content: must not use 'payment_link' (tagged limited_content: reveals the credit)"
        in problems
    )
    assert "limited content: 'pay' reveals the debt (tagged limited_content)" in problems
    assert "limited content: 'account' reveals the debt (tagged limited_content)" in problems
    assert problems_of(templates, "en-US/email/second_reminder.text.j2") == []


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Your bailiffs are on the way.", "forbidden phrase 'bailiff' (threatening or misleading)"),
        ("We will repossess your car.", "forbidden phrase 'repossess' (threatening or misleading)"),
        ("Call us about 120.50.", "limited content: '0.50' looks like an amount"),
        ("You owe us 120 pounds.", "limited content: '120 pounds' looks like an amount"),
        ("You owe us £120.", "limited content: '£1' looks like an amount"),
    ],
)
def test_en_gb_refuses_threats_and_amounts_in_an_sms(templates: Path, text: str, found: str) -> None:
    relative = "en-GB/sms/second_reminder.body.j2"
    assert problems_of(templates, relative) == []
    (templates / relative).write_text(
        f"{{{{ company }}}}: {text} Free debt advice: ask us. Reply STOP to opt out.", encoding="utf-8"
    )
    assert found in problems_of(templates, relative)


@pytest.mark.parametrize(
    ("relative", "text", "word"),
    [
        (
            "en-US/voice/callback_request.voicemail.j2",
            "This is {{ company }}. {{ name }} owes us; please ask them to call {{ callback_number }}.",
            "owe",
        ),
        (
            "en-US/voice/callback_request.menu.j2",
            "{{ name }} has an overdue bill with {{ company }}. Call {{ callback_number }}.",
            "overdue",
        ),
        (
            "zh-CN/sms/callback_request.body.j2",
            "【{{ company }}】{{ name }}的贷款已逾期，请转告其回电{{ callback_number }}。回复TD退订",
            "逾期",
        ),
        (
            "en-GB/sms/callback_request.body.j2",
            "{{ company }}: {{ name }} is in arrears. Ring {{ callback_number }}. Reply STOP to opt out.",
            "arrears",
        ),
        (
            "en-GB/voice/callback_request.menu.j2",
            "{{ company }} here: {{ name }} has a repayment to make. Ring us on {{ callback_number }}.",
            "repayment",
        ),
    ],
)
def test_a_limited_content_template_has_no_debt_words(
    templates: Path, relative: str, text: str, word: str
) -> None:
    (templates / relative).write_text(text, encoding="utf-8")
    assert f"limited content: {word!r} reveals the debt (tagged limited_content)" in problems_of(
        templates, relative
    )


def test_debt_words_are_checked_only_in_tagged_templates(templates: Path) -> None:
    assert "pay" in (templates / "en-US/sms/reminder.body.j2").read_text(encoding="utf-8").lower()
    assert problems_of(templates, "en-US/sms/reminder.body.j2") == []


# --- debt_advice ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "relative",
    [
        "en-US/sms/call.body.j2",
        "en-US/email/call.text.j2",
        "en-US/email/call.html.j2",
        "en-US/voice/call.menu.j2",
        "zh-CN/sms/final_notice.body.j2",
        "zh-CN/email/restructuring_offer.html.j2",
        "en-GB/sms/reminder.body.j2",
        "en-GB/email/final_notice.text.j2",
        "en-GB/email/second_reminder.html.j2",
        "en-GB/voice/second_reminder.menu.j2",
    ],
)
def test_a_debt_advice_template_carries_the_referral_line(templates: Path, relative: str) -> None:
    path = templates / relative
    text = path.read_text(encoding="utf-8")
    lines = ("Free debt advice", "free and independent debt advice", "Free and independent debt advice")
    for line in (*lines, "free debt advice"):
        text = text.replace(line, "Advice")
    for line in ("免费、独立的债务咨询", "免费债务咨询"):
        text = text.replace(line, "咨询")
    path.write_text(text, encoding="utf-8")
    assert "missing the debt-advice referral line (the template is tagged debt_advice)" in problems_of(
        templates, relative
    )


def test_the_referral_is_not_asked_of_voicemails_subjects_or_untagged_templates(templates: Path) -> None:
    assert "debt advice" not in (templates / "en-US/voice/call.voicemail.j2").read_text(encoding="utf-8")
    assert problems_of(templates, "en-US/voice/call.voicemail.j2") == []
    assert problems_of(templates, "en-US/email/call.subject.j2") == []
    assert problems_of(templates, "en-US/sms/payment_link.body.j2") == []
    retag(templates, "payment_link", '["debt_advice"]')
    assert problems_of(templates, "en-US/sms/payment_link.body.j2") == [
        "missing the debt-advice referral line (the template is tagged debt_advice)"
    ]


def test_an_unknown_tag_is_refused(templates: Path) -> None:
    retag(templates, "help", '["friendly"]')
    [problem] = [p for p in lint(templates) if p.file == templates / "catalog.toml"]
    assert (
        "templates.help.tags[0]: Input should be 'limited_content', 'debt_advice', 'forbearance_offer' or "
        "'opt_out_confirmation'" in (problem.message)
    )


# --- zh-CN: the guideline's banned practices -------------------------------------------------------------

ZH_SMS = "zh-CN/sms/help.body.j2"


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("【{{ company }}】再不还款将移交公检法处理。回复TD退订", "公检法"),
        ("【{{ company }}】我们将在您所在社区张贴公告。回复TD退订", "公告"),
        ("【{{ company }}】逾期信息将被曝光。回复TD退订", "曝光"),
        ("【{{ company }}】您已被列入行业黑名单。回复TD退订", "黑名单"),
        ("【{{ company }}】请另付催收费200元。回复TD退订", "催收费"),
        ("【{{ company }}】逾期将产生额外费用。回复TD退订", "额外费用"),
        ("【{{ company }}】建议您以贷还贷，尽快结清。回复TD退订", "以贷还贷"),
        ("【{{ company }}】可借新还旧，我们可推荐渠道。回复TD退订", "借新还旧"),
    ],
)
def test_zh_cn_banned_practices(templates: Path, text: str, phrase: str) -> None:
    (templates / ZH_SMS).write_text(text, encoding="utf-8")
    assert f"forbidden phrase {phrase!r} (threatening or misleading)" in problems_of(templates, ZH_SMS)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("【某市人民法院】您有一份文书待领取，请致电{{ callback_number }}。回复TD退订", "【某市人民法院】"),
        (
            "【{{ company }}】您好，这里是某区检察院，请回电{{ callback_number }}。回复TD退订",
            "这里是某区检察院",
        ),
        ("【{{ company }}】法院通知：请于三日内回电{{ callback_number }}。回复TD退订", "法院通知"),
        ("【{{ company }}】本院已受理，请回电{{ callback_number }}。回复TD退订", "本院"),
    ],
)
def test_zh_cn_sender_presented_as_an_authority(templates: Path, text: str, match: str) -> None:
    (templates / ZH_SMS).write_text(text, encoding="utf-8")
    assert f"impersonation: {match!r} presents the sender as an authority" in problems_of(templates, ZH_SMS)


def test_zh_cn_a_truthful_mention_of_a_court_is_not_impersonation(templates: Path) -> None:
    relative = "zh-CN/email/final_notice.text.j2"
    path = templates / relative
    text = path.read_text(encoding="utf-8").replace(
        "我们希望与您商定还款安排。", "我们希望与您商定还款安排；协商不成的，我行可依法向法院提起诉讼。"
    )
    path.write_text(text, encoding="utf-8")
    assert problems_of(templates, relative) == []


def test_a_bad_impersonation_pattern_is_named(templates: Path) -> None:
    locale = templates / "zh-CN/locale.toml"
    text = locale.read_text(encoding="utf-8").replace("'本院|本检察院|本局',", "'本院(',")
    locale.write_text(text, encoding="utf-8")
    [problem] = [p.message for p in lint(templates) if p.file == locale]
    assert problem.startswith("impersonation: '本院(' is not a regular expression")


# --- opt_out_confirmation -------------------------------------------------------------------------------


def test_an_opt_out_confirmation_needs_no_opt_out_line_but_stays_an_sms_without_the_debt(
    templates: Path,
) -> None:
    relative = "en-US/sms/opt_out_confirmation.body.j2"
    assert problems_of(templates, relative) == []  # it says how to opt back in, not how to opt out
    (templates / relative).write_text("{{ company }}: unsubscribed. Your balance is due.", encoding="utf-8")
    assert "limited content: 'balance' reveals the debt (tagged limited_content)" in problems_of(
        templates, relative
    )
    retag(templates, "reminder", '["opt_out_confirmation"]')
    assert "an opt-out confirmation is an SMS only" in problems_of(templates, "en-US/email/reminder.text.j2")
    # Untagged, the same text must carry the opt-out line like every other SMS.
    retag(templates, "opt_out_confirmation", "[]")
    (templates / relative).write_text("{{ company }}: unsubscribed.", encoding="utf-8")
    assert "missing the en-US opt-out instruction" in problems_of(templates, relative)


ENGLISH_SMS = sorted(p.name.split(".")[0] for p in (DEPLOY_DIR / "templates/en-US/sms").iterdir())
# Typical details per English locale: a UK freephone number is one digit longer than a US toll-free one.
ENGLISH_DETAILS = {
    "en-US": {"callback_number": "+18005550199", "currency": "USD"},
    "en-GB": {"callback_number": "+448005550199", "currency": "GBP"},
}


@pytest.mark.parametrize("locale", sorted(ENGLISH_DETAILS))
@pytest.mark.parametrize("name", ENGLISH_SMS)
def test_every_english_sms_costs_one_segment_with_typical_details(name: str, locale: str) -> None:
    """The referral line, the opt-out line and a short link must leave room: a second segment doubles what
    every reminder costs the bank."""
    book = TemplateBook.load(DEPLOY_DIR / "templates")
    details = {**VARIABLES, "company": "Example Bank", **ENGLISH_DETAILS[locale]}
    rendered = book.render(Channel.SMS, name, locale, details)
    assert rendered.locale == locale
    body = rendered.parts["body"]
    assert count_segments(body) == 1, f"{locale} {name}: {len(body)} characters"


def test_en_gb_has_every_sms_en_us_has() -> None:
    british = sorted(p.name.split(".")[0] for p in (DEPLOY_DIR / "templates/en-GB/sms").iterdir())
    assert british == ENGLISH_SMS
