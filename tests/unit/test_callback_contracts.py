"""The contract between the channel workers and the webhooks service, end to end without a network: what a
driver signs into its URLs is exactly what the webhooks service reads back, through the shared models of
``schemas.callbacks`` (a field renamed on one side fails the type check of the other)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from pydantic import SecretStr

from schemas.callbacks import (
    CONTEXT_PARAM,
    REQUEST_PARAM,
    TOKEN_PARAM,
    CallbackContext,
    Route,
    UnsubscribeToken,
)
from schemas.vocab import Channel
from services.channels.adapters.fakes import FakeEmail, FakeSms, FakeVoice
from services.channels.drivers import EmailDriver, SmsDriver, VoiceDriver
from services.channels.ports import Call, Email, Sms
from services.channels.settings import ChannelsSettings
from services.core.settings import DEPLOY_DIR
from services.messaging.links import LinkSigner
from services.messaging.templates import TemplateBook
from tests.channels_support import START, approval
from tests.support import APPROVAL_PUBLIC_KEY

KEYS = [SecretStr("a-link-signing-key-for-tests-0001")]
SETTINGS = ChannelsSettings(
    webhooks_base_url="https://hooks.bank.example/base",
    link_signing_keys=KEYS,
    approval_keys=[APPROVAL_PUBLIC_KEY],
    sms_from="+15550009000",
    voice_from="+15550009001",
)
TEMPLATES = TemplateBook.load(DEPLOY_DIR / "templates")
# The webhooks service verifies with the same keys (its own settings name them too).
WEBHOOKS = LinkSigner(KEYS)


def read_back(url: str, route: Route) -> CallbackContext:
    parts = urlsplit(url)
    assert parts.path == f"/base{route.value}"
    query = parse_qs(parts.query)
    ctx = CallbackContext.from_payload(WEBHOOKS.verify(query[CONTEXT_PARAM][0]))
    assert ctx is not None and query[REQUEST_PARAM] == [ctx.request_id]
    return ctx


def test_an_sms_status_callback_carries_the_request_the_webhooks_read_back() -> None:
    sms = approval("d-1", "r-sms", "+14155550100")
    message = SmsDriver(FakeSms(), TEMPLATES, LinkSigner(KEYS), SETTINGS).prepare(sms, START).message
    assert isinstance(message, Sms)
    ctx = read_back(message.status_callback, Route.MESSAGE_STATUS)
    assert (ctx.request_id, ctx.debtor_id, ctx.account_id, ctx.channel) == (
        "r-sms",
        "d-1",
        sms.account_id,
        Channel.SMS,
    )
    assert (ctx.strategy, ctx.strategy_version, ctx.arm) == (sms.strategy, sms.strategy_version, sms.arm)


def test_a_call_carries_what_its_menu_says_to_both_callback_routes() -> None:
    call = approval("d-2", "r-call", "+14155550101", channel=Channel.VOICE)
    message = VoiceDriver(FakeVoice(), TEMPLATES, LinkSigner(KEYS), SETTINGS).prepare(call, START).message
    assert isinstance(message, Call)
    answer = read_back(message.answer_url, Route.CALL_ANSWER)
    status = read_back(message.status_callback, Route.CALL_STATUS)
    assert answer == status
    assert (answer.template, answer.language) == (call.template, call.language)
    assert answer.variables["amount_due"] == call.variables["amount_due"]


def test_the_unsubscribe_link_names_the_address_and_request_the_webhooks_unsubscribe() -> None:
    mail = approval("d-3", "r-mail", "alex@example.com", channel=Channel.EMAIL)
    message = EmailDriver(FakeEmail(), TEMPLATES, LinkSigner(KEYS), SETTINGS).prepare(mail, START).message
    assert isinstance(message, Email)
    header = dict(message.headers)["List-Unsubscribe"]
    parts = urlsplit(header.strip("<>"))
    assert parts.path == f"/base{Route.UNSUBSCRIBE.value}"
    token = UnsubscribeToken.from_payload(WEBHOOKS.verify(parse_qs(parts.query)[TOKEN_PARAM][0]))
    assert token is not None
    assert (token.debtor_id, token.address, token.request_id) == ("d-3", "alex@example.com", "r-mail")
    # A callback context is not an unsubscribe token, even though both are signed with the same keys.
    context = WEBHOOKS.sign(
        CallbackContext(request_id="r", debtor_id="d", account_id="a", channel="sms").payload()
    )
    assert UnsubscribeToken.from_payload(WEBHOOKS.verify(context)) is None
