"""The email worker's transport settings: TLS unless told otherwise, implicit TLS on its own port, and no
password ever configured for a session in clear."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr, ValidationError

from services.channels.settings import ChannelsSettings
from tests.support import APPROVAL_PUBLIC_KEY

REQUIRED: dict[str, Any] = {
    "webhooks_base_url": "https://hooks.bank.example",
    "link_signing_keys": [SecretStr("k" * 32)],
    "approval_keys": [APPROVAL_PUBLIC_KEY],
}


def test_starttls_is_required_by_default_on_port_25() -> None:
    config = ChannelsSettings(**REQUIRED)
    assert (config.smtp_tls, config.smtp_port) == ("starttls", 25)


def test_implicit_tls_has_its_own_port_unless_one_is_set() -> None:
    assert ChannelsSettings(**REQUIRED, smtp_tls="implicit").smtp_port == 465
    assert ChannelsSettings(**REQUIRED, smtp_tls="implicit", smtp_port=2465).smtp_port == 2465


def test_the_old_opportunistic_setting_is_gone() -> None:
    with pytest.raises(ValidationError, match="smtp_tls"):
        ChannelsSettings(**REQUIRED, smtp_tls="auto")


def test_no_password_for_a_session_in_clear() -> None:
    assert ChannelsSettings(**REQUIRED, smtp_tls="none_insecure_local_only").smtp_password is None
    with pytest.raises(ValidationError, match="never sent"):
        ChannelsSettings(
            **REQUIRED,
            smtp_tls="none_insecure_local_only",
            smtp_username="collections",
            smtp_password=SecretStr("s3cret"),
        )
