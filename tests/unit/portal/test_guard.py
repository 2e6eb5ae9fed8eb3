"""The link token's checks, the limits on wrong answers and the CSRF check: pure, on a given time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pydantic import SecretStr

from schemas.callbacks import CallbackContext, PortalToken, UnsubscribeToken
from schemas.vocab import Channel
from services.messaging.links import LinkSigner
from services.portal import guard
from services.portal.guard import Attempts, Link, LinkProblem, open_link

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
KEY = SecretStr("link-key-0123456789abcdef")
SIGNER = LinkSigner([KEY])
LIFETIME = timedelta(hours=72)


def token(issued: datetime = NOW, debtor: str = "d1", signer: LinkSigner = SIGNER) -> str:
    return signer.sign(
        PortalToken(debtor_id=debtor, address="+12125550100", issued_at=int(issued.timestamp())).payload()
    )


def test_a_fresh_link_opens_for_its_debtor_and_address() -> None:
    opened = open_link(SIGNER, token(), NOW, LIFETIME)
    assert isinstance(opened, Link)
    assert (opened.token.debtor_id, opened.token.address) == ("d1", "+12125550100")
    assert opened.fingerprint == guard.fingerprint(token()) and len(opened.fingerprint) == 32


def test_an_expired_link_is_refused() -> None:
    assert (
        open_link(SIGNER, token(NOW - LIFETIME - timedelta(seconds=1)), NOW, LIFETIME) is LinkProblem.EXPIRED
    )
    assert isinstance(open_link(SIGNER, token(NOW - LIFETIME), NOW, LIFETIME), Link)


def test_a_link_from_the_future_is_refused() -> None:
    assert open_link(SIGNER, token(NOW + timedelta(hours=1)), NOW, LIFETIME) is LinkProblem.NOT_YET_VALID


def test_forged_tampered_and_other_tokens_are_refused() -> None:
    stranger = LinkSigner([SecretStr("another-key-0123456789")])
    assert open_link(SIGNER, token(signer=stranger), NOW, LIFETIME) is LinkProblem.FORGED
    body, _, signature = token().partition(".")
    other_body = token(debtor="d2").partition(".")[0]
    assert open_link(SIGNER, f"{other_body}.{signature}", NOW, LIFETIME) is LinkProblem.FORGED
    assert open_link(SIGNER, body, NOW, LIFETIME) is LinkProblem.FORGED
    assert open_link(SIGNER, "", NOW, LIFETIME) is LinkProblem.FORGED
    # Tokens the same keys sign for other purposes do not open the portal.
    unsubscribe = SIGNER.sign(
        UnsubscribeToken(debtor_id="d1", address="a@example.com", request_id="r1").payload()
    )
    context = SIGNER.sign(
        CallbackContext(request_id="r1", debtor_id="d1", account_id="a1", channel=Channel.SMS).payload()
    )
    assert open_link(SIGNER, unsubscribe, NOW, LIFETIME) is LinkProblem.FORGED
    assert open_link(SIGNER, context, NOW, LIFETIME) is LinkProblem.FORGED


def test_a_rotated_key_still_opens_links_it_signed() -> None:
    old = LinkSigner([SecretStr("old-key-0123456789abcdef")])
    rotated = LinkSigner([KEY, SecretStr("old-key-0123456789abcdef")])
    assert isinstance(open_link(rotated, token(signer=old), NOW, LIFETIME), Link)


def test_attempts_lock_after_the_limit_and_unlock_when_the_window_passes() -> None:
    attempts = Attempts(limit=3, window=timedelta(minutes=15))
    for minute in range(3):
        assert not attempts.locked("k", NOW + timedelta(minutes=minute))
        attempts.wrong("k", NOW + timedelta(minutes=minute))
    assert attempts.locked("k", NOW + timedelta(minutes=3))
    assert attempts.left("k", NOW + timedelta(minutes=3)) == 0
    assert not attempts.locked("other", NOW)
    assert not attempts.locked("k", NOW + timedelta(minutes=15))  # the first attempt left the window
    assert attempts.left("k", NOW + timedelta(minutes=15)) == 1
    attempts.forget("k")
    assert attempts.left("k", NOW) == 3


def test_attempts_keep_a_bounded_number_of_keys() -> None:
    attempts = Attempts(limit=1, window=timedelta(hours=1), max_keys=2)
    for key in ("a", "b", "c"):
        attempts.wrong(key, NOW)
    assert not attempts.locked("a", NOW)
    assert attempts.locked("b", NOW) and attempts.locked("c", NOW)


def test_csrf_needs_the_sessions_token() -> None:
    secret = guard.new_secret()
    assert guard.csrf_ok(secret, secret)
    assert not guard.csrf_ok(secret, None)
    assert not guard.csrf_ok(secret, "")
    assert not guard.csrf_ok(secret, guard.new_secret())
    assert not guard.csrf_ok(None, secret)
    assert not guard.csrf_ok("", "")


def test_nonces() -> None:
    nonce = guard.new_nonce()
    assert guard.valid_nonce(nonce) and nonce != guard.new_nonce()
    assert not guard.valid_nonce("short")
    assert not guard.valid_nonce("x" * 65)
    assert not guard.valid_nonce("a" * 20 + "<script>")
