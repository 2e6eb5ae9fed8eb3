"""The portal refuses to start without its keys, or with a session key that is not a Fernet key."""

from __future__ import annotations

import base64

import pytest

from services.core.settings import ConfigError, load
from services.portal.settings import PortalSettings

GOOD = {
    "PORTAL_PUBLIC_BASE_URL": "https://pay.bank.example",
    "PORTAL_LINK_SIGNING_KEYS": "link-key-0123456789abcdef",
    "PORTAL_SESSION_KEY": base64.urlsafe_b64encode(b"k" * 32).decode(),
    "PORTAL_KNOWLEDGE_KEYS": "bank-key-0123456789abcdef",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name, value in GOOD.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_with_every_key_it_loads(env: pytest.MonkeyPatch) -> None:
    config = load(PortalSettings)
    assert config.link_lifetime_hours == 72 and config.session_minutes == 15


@pytest.mark.parametrize("missing", sorted(GOOD))
def test_without_a_key_it_refuses_naming_the_variable(env: pytest.MonkeyPatch, missing: str) -> None:
    env.delenv(missing)
    with pytest.raises(ConfigError, match=f"{missing} is required"):
        load(PortalSettings)


@pytest.mark.parametrize("bad", ["short", base64.urlsafe_b64encode(b"k" * 16).decode(), "!!!!"])
def test_a_session_key_that_is_not_a_fernet_key_is_refused_without_showing_it(
    env: pytest.MonkeyPatch, bad: str
) -> None:
    env.setenv("PORTAL_SESSION_KEY", bad)
    with pytest.raises(ConfigError, match="PORTAL_SESSION_KEY") as raised:
        load(PortalSettings)
    assert bad not in str(raised.value)


def test_the_link_command_prints_a_link_the_portal_opens(
    env: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from datetime import UTC, datetime, timedelta
    from urllib.parse import parse_qs, urlsplit

    from services.core.cli import main
    from services.messaging.links import LinkSigner
    from services.portal.cli import COMMANDS
    from services.portal.guard import Link, open_link

    assert main("collections portal", COMMANDS, ["link", "--debtor", "d1", "--address", "+12125550100"]) == 0
    url = urlsplit(capsys.readouterr().out.strip())
    assert (url.scheme, url.netloc, url.path) == ("https", "pay.bank.example", "/start")
    config = load(PortalSettings)
    opened = open_link(
        LinkSigner(config.link_signing_keys),
        parse_qs(url.query)["token"][0],
        datetime.now(UTC),
        timedelta(hours=config.link_lifetime_hours),
    )
    assert isinstance(opened, Link) and opened.token.debtor_id == "d1"


def test_the_link_command_without_its_debtor_is_a_usage_error(env: pytest.MonkeyPatch) -> None:
    from services.core.cli import main
    from services.portal.cli import COMMANDS

    with pytest.raises(SystemExit) as exited:
        main("collections portal", COMMANDS, ["link", "--address", "+12125550100"])
    assert exited.value.code == 2
