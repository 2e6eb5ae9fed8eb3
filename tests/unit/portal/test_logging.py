"""What the portal's HTTP server logs about a failed request names the exception's class, never its text
(which may quote the link token or a form's answer)."""

from __future__ import annotations

import logging
import sys

import pytest

from services.portal.app import server_log


def test_a_failed_request_is_logged_without_the_exceptions_text(caplog: pytest.LogCaptureFixture) -> None:
    try:
        raise ValueError("token=eyJkIjoiZDEiLCJlIjoiKzEyMTI1NTUwMTAwIn0.c2ln answer=1980-03-07")
    except ValueError:
        with caplog.at_level(logging.ERROR, logger=server_log.name):
            server_log.error("Error handling request", exc_info=sys.exc_info())
    assert caplog.messages == ["request failed: ValueError"]
    assert "token" not in caplog.text and "1980" not in caplog.text
