"""Templates: the shipped ones pass the lint (so ``make test`` checks them), and the lint refuses forbidden
phrases, missing opt-out instructions, amounts and account numbers in limited-content parts, unknown
variables and missing files; rendering is sandboxed, strict and localized."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from schemas.vocab import Channel
from services.channels.cli import COMMANDS
from services.core.cli import main
from services.core.settings import DEPLOY_DIR
from services.messaging.templates import RenderError, TemplateBook, TemplateError, lint
from tests.support import APPROVAL_PUBLIC_KEY

SHIPPED = DEPLOY_DIR / "templates"
VARIABLES = {
    "name": "Alex Doe",
    "payment_link": "https://pay.bank.example/p/1",
    "amount_due": "120.50",
    "currency": "USD",
    "total_outstanding": "2400.00",
    "plan_3": "800.00",
    "plan_6": "400.00",
    "plan_12": "200.00",
    "first_instalment_date": "2026-07-01",
    "company": "Example Bank",
    "callback_number": "+18005550199",
    "unsubscribe_url": "https://hooks.bank.example/email/unsubscribe?token=t",
}


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    root = tmp_path / "templates"
    shutil.copytree(SHIPPED, root)
    return root


def problems_of(root: Path, relative: str) -> list[str]:
    return [problem.message for problem in lint(root) if problem.file == root / relative]


def test_shipped_templates_pass_the_lint() -> None:
    assert [str(problem) for problem in lint(SHIPPED)] == []


def test_every_template_id_of_escalation_exists_on_every_channel_in_both_locales() -> None:
    book = TemplateBook.load(SHIPPED)
    assert {"en-US", "en-GB", "zh-CN"} <= set(book.locales)
    for template in ("reminder", "second_reminder", "call", "final_notice"):
        assert all(book.has(channel, template) for channel in Channel)
    assert book.has(Channel.SMS, "payment_link")
    assert book.has(Channel.SMS, "help")


@pytest.mark.parametrize(
    ("relative", "text", "phrase"),
    [
        (
            "en-US/sms/reminder.body.j2",
            "{{ company }}: pay now or the police will arrest you. Reply STOP to opt out.",
            "arrest",
        ),
        (
            "en-US/email/final_notice.text.j2",
            "{{ name }}, you will be put on a blacklist. Unsubscribe: {{ unsubscribe_url }}",
            "blacklist",
        ),
        ("zh-CN/sms/reminder.body.j2", "【{{ company }}】不还款将被列入黑名单。回复TD退订", "黑名单"),
        ("zh-CN/voice/reminder.menu.j2", "{{ name }}，逾期将收到法院传票并坐牢。", "坐牢"),
    ],
)
def test_a_forbidden_phrase_is_refused(templates: Path, relative: str, text: str, phrase: str) -> None:
    (templates / relative).write_text(text, encoding="utf-8")
    assert f"forbidden phrase {phrase!r} (threatening or misleading)" in problems_of(templates, relative)


def test_forbidden_words_match_at_a_word_start_in_any_case(templates: Path) -> None:
    relative = "en-US/sms/help.body.j2"
    (templates / relative).write_text("{{ company }}: you may be ARRESTED. Reply STOP to opt out.")
    assert any("'arrest'" in message for message in problems_of(templates, relative))
    (templates / relative).write_text("{{ company }}: see our privacy policy. Reply STOP to opt out.")
    assert problems_of(templates, relative) == []


@pytest.mark.parametrize(
    ("relative", "text"),
    [
        ("en-US/sms/reminder.body.j2", "{{ company }}: Hi {{ name }}, please call {{ callback_number }}."),
        ("zh-CN/sms/reminder.body.j2", "【{{ company }}】{{ name }}您好，请致电{{ callback_number }}。"),
    ],
)
def test_an_sms_without_its_opt_out_line_is_refused(templates: Path, relative: str, text: str) -> None:
    (templates / relative).write_text(text, encoding="utf-8")
    locale = relative.split("/")[0]
    assert f"missing the {locale} opt-out instruction" in problems_of(templates, relative)


def test_an_email_without_unsubscribe_is_refused(templates: Path) -> None:
    relative = "en-US/email/reminder.html.j2"
    (templates / relative).write_text("<p>Dear {{ name }}, please pay {{ amount_due }} {{ currency }}.</p>")
    problems = problems_of(templates, relative)
    assert "missing the en-US opt-out instruction" in problems
    assert "missing the unsubscribe link ({{ unsubscribe_url }})" in problems


@pytest.mark.parametrize(
    ("relative", "text", "expected"),
    [
        (
            "en-US/sms/reminder.body.j2",
            "{{ company }}: you owe {{ amount_due }} {{ currency }}. Reply STOP to opt out.",
            "limited content: must not use 'amount_due' (reveals the debt)",
        ),
        (
            "en-US/sms/call.body.j2",
            "{{ company }}: please pay $120.50 today. Reply STOP to opt out.",
            "limited content: '$1' looks like an amount",
        ),
        (
            "zh-CN/sms/call.body.j2",
            "【{{ company }}】请还款120元。回复TD退订",
            "limited content: '120元' looks like an amount",
        ),
        (
            "en-US/voice/call.voicemail.j2",
            "Message for {{ name }} about account 4417123456. Call {{ callback_number }}.",
            "limited content: a run of digits looks like an account number",
        ),
        (
            "en-US/voice/call.menu.j2",
            "{{ name }}, your balance is {{ total_outstanding }}. Press 1 to pay, 2 for an agent.",
            "limited content: must not use 'total_outstanding' (reveals the debt)",
        ),
    ],
)
def test_an_amount_or_account_number_in_limited_content_is_refused(
    templates: Path, relative: str, text: str, expected: str
) -> None:
    (templates / relative).write_text(text, encoding="utf-8")
    assert expected in problems_of(templates, relative)


def test_amounts_are_fine_in_an_email(templates: Path) -> None:
    assert problems_of(templates, "en-US/email/final_notice.text.j2") == []
    assert "amount_due" in (templates / "en-US/email/final_notice.text.j2").read_text()


def test_a_variable_nobody_provides_is_refused(templates: Path) -> None:
    relative = "en-US/sms/help.body.j2"
    (templates / relative).write_text("{{ company }} {{ account_number }} Reply STOP to opt out.")
    assert "uses 'account_number', which is not provided to 'help' on sms" in problems_of(templates, relative)
    relative = "en-US/sms/payment_link.body.j2"
    (templates / relative).write_text("{{ payment_link }} {{ amount_due }} Reply STOP to opt out.")
    assert "uses 'amount_due', which is not provided to 'payment_link' on sms" in problems_of(
        templates, relative
    )


def test_missing_stray_and_broken_files_are_named(templates: Path) -> None:
    (templates / "zh-CN/voice/final_notice.voicemail.j2").unlink()
    (templates / "en-US/sms/remindr.body.j2").write_text("typo")
    (templates / "en-US/sms/help.body.j2").write_text("{{ company }: Reply STOP to opt out.")
    assert problems_of(templates, "zh-CN/voice/final_notice.voicemail.j2") == [
        "missing: template 'final_notice' must exist on voice in every locale"
    ]
    assert problems_of(templates, "en-US/sms/remindr.body.j2") == [
        "not in catalog.toml (a typo in the name, or a missing entry)"
    ]
    [broken] = problems_of(templates, "en-US/sms/help.body.j2")
    assert broken.startswith("line 1: ")


def test_loading_bad_templates_fails_naming_the_file(templates: Path) -> None:
    (templates / "zh-CN/sms/help.body.j2").write_text("【{{ company }}】公安机关已立案。回复TD退订")
    with pytest.raises(TemplateError) as refused:
        TemplateBook.load(templates)
    assert f"{templates / 'zh-CN/sms/help.body.j2'}: forbidden phrase '公安'" in str(refused.value)


def test_the_lint_command_exits_non_zero_naming_each_problem(
    templates: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert channels_cli(["lint", "--templates", str(SHIPPED)]) == 0
    (templates / "en-US/sms/call.body.j2").write_text("{{ company }}: call us. Go to jail.")
    assert channels_cli(["lint", "--templates", str(templates)]) == 1
    out = capsys.readouterr().out
    assert f"{templates / 'en-US/sms/call.body.j2'}: forbidden phrase 'jail'" in out
    assert f"{templates / 'en-US/sms/call.body.j2'}: missing the en-US opt-out instruction" in out


def test_rendering_in_the_debtors_language_with_fallbacks() -> None:
    book = TemplateBook.load(SHIPPED)
    chinese = book.render(Channel.SMS, "reminder", "zh-CN", {**VARIABLES, "name": "王小明"})
    assert chinese.locale == "zh-CN"
    assert chinese.parts["body"].startswith("【Example Bank】王小明您好")
    assert chinese.parts["body"].endswith("回复TD退订")
    assert book.locale("zh-TW") == "zh-CN"
    assert book.locale("fr-FR") == "en-US"
    english = book.render(Channel.SMS, "reminder", "en-CA", VARIABLES)
    assert english.locale == "en-US"
    assert "\n" not in english.parts["body"] and english.parts["body"].endswith("Reply STOP to opt out.")


def test_a_british_debtor_is_served_in_en_gb_and_english_falls_back_to_the_default() -> None:
    book = TemplateBook.load(SHIPPED)
    british = book.render(Channel.SMS, "reminder", "en-GB", VARIABLES)
    assert british.locale == "en-GB"
    assert "\n" not in british.parts["body"] and british.parts["body"].endswith("Reply STOP to opt out.")
    # The default locale first among those of the same language, whatever their order.
    assert [book.locale(language) for language in ("en", "en-US", "en-CA", "en-AU")] == ["en-US"] * 4
    # Named in the catalog's fallbacks: Irish English is served in British English.
    assert book.locale("en-IE") == "en-GB"
    assert book.voice("en-GB").say_language == "en-GB"


def test_a_fallback_to_a_locale_that_does_not_exist_is_refused(templates: Path) -> None:
    catalog = templates / "catalog.toml"
    text = catalog.read_text(encoding="utf-8")
    assert 'fallbacks = { "en-IE" = "en-GB" }' in text
    catalog.write_text(text.replace('"en-IE" = "en-GB"', '"en-IE" = "ga-IE"'), encoding="utf-8")
    assert problems_of(templates, "catalog.toml") == ["fallbacks: 'en-IE' = 'ga-IE' has no locale.toml"]


def test_en_gb_email_is_british_with_the_amount_in_its_currency() -> None:
    book = TemplateBook.load(SHIPPED)
    variables = {**VARIABLES, "currency": "GBP", "name": "Alex Doe"}
    parts = book.render(Channel.EMAIL, "final_notice", "en-GB", variables).parts
    assert "120.50 GBP" in parts["text"] and "800.00 GBP" in parts["html"]
    assert 'lang="en-GB"' in parts["html"]
    for body in (parts["text"], parts["html"]):
        assert "free and independent debt advice" in body and "organisation" in body
        assert "call us on" in body and "call us at" not in body
    assert "Unsubscribe" in parts["html"] and "unsubscribe" in parts["text"]


def test_email_has_subject_text_and_escaped_html() -> None:
    book = TemplateBook.load(SHIPPED)
    parts = book.render(Channel.EMAIL, "final_notice", "en-US", {**VARIABLES, "name": "<b>Eve</b>"}).parts
    assert set(parts) == {"subject", "text", "html"}
    assert "&lt;b&gt;Eve&lt;/b&gt;" in parts["html"] and "<b>Eve</b>" not in parts["html"]
    assert "Dear <b>Eve</b>," in parts["text"]  # plain text is not HTML: nothing to escape
    assert "800.00 USD" in parts["text"]


def test_a_missing_variable_or_template_is_a_render_error_naming_it() -> None:
    book = TemplateBook.load(SHIPPED)
    without_name = {k: v for k, v in VARIABLES.items() if k != "name"}
    with pytest.raises(RenderError, match="'name' is undefined"):
        book.render(Channel.SMS, "reminder", "en-US", without_name)
    with pytest.raises(RenderError, match="no sms template 'nonexistent'"):
        book.render(Channel.SMS, "nonexistent", "en-US", VARIABLES)
    with pytest.raises(RenderError, match="no email template 'help'"):
        book.render(Channel.EMAIL, "help", "en-US", VARIABLES)


def test_a_template_cannot_reach_into_python(templates: Path) -> None:
    relative = "en-US/sms/help.body.j2"
    (templates / relative).write_text(
        "{{ company.__class__.__mro__[1].__subclasses__() }} Reply STOP to opt out.", encoding="utf-8"
    )
    [refused] = problems_of(templates, relative)
    assert refused.startswith("does not render with the sample variables: access to attribute '__class__'")


def test_the_worker_refuses_to_start_with_bad_templates_naming_the_file(
    templates: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (templates / "en-US/sms/reminder.body.j2").write_text("{{ company }}: pay or face arrest.")
    monkeypatch.setenv("CHANNELS_TEMPLATES", str(templates))
    for name, value in {
        "LINK_SIGNING_KEYS": "k" * 32,
        "WEBHOOKS_BASE_URL": "https://hooks.bank.example",
        "TWILIO_ACCOUNT_SID": "AC" + "0" * 32,
        "TWILIO_AUTH_TOKEN": "t" * 32,
        "SMS_FROM": "+15550009000",
        "APPROVAL_KEYS": APPROVAL_PUBLIC_KEY,
    }.items():
        monkeypatch.setenv(f"CHANNELS_{name}", value)
    assert channels_cli(["run", "--channel", "sms"]) == 2
    refused = capsys.readouterr().err
    assert refused.startswith("channels-sms: refusing to start: ")
    assert f"{templates / 'en-US/sms/reminder.body.j2'}: forbidden phrase 'arrest'" in refused


def channels_cli(argv: list[str]) -> int:
    return main("collections channels", COMMANDS, argv)
