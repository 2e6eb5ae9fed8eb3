"""What the services' logging setup lets through: the HTTP client's request lines carry personal data."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from services.core.runner import configure_logging


@pytest.fixture
def restore_levels() -> Iterator[None]:
    loggers = [logging.getLogger(name) for name in ("", "httpx", "aiokafka")]
    before = [logger.level for logger in loggers]
    yield
    for logger, level in zip(loggers, before, strict=True):
        logger.setLevel(level)


@pytest.mark.parametrize("level", ["DEBUG", "INFO"])
@pytest.mark.usefixtures("restore_levels")
def test_http_client_request_lines_are_not_logged(level: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # httpx logs "HTTP Request: GET .../Messages.json?To=%2B8613800138000 ..." at INFO: a debtor's number.
    monkeypatch.setenv("COLLECTIONS_LOG_LEVEL", level)
    logging.getLogger().setLevel(level)  # as basicConfig does in a service; under pytest it does nothing
    configure_logging("test")
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    assert logging.getLogger("httpx").isEnabledFor(logging.WARNING)
