"""What the services' logging setup lets through: the HTTP client's request lines carry personal data, and
the Kafka client's retried start-up lookups are no errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from aiokafka.errors import GroupCoordinatorNotAvailableError, InvalidGroupIdError

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


@pytest.mark.parametrize("level", ["DEBUG", "INFO", "WARNING"])
@pytest.mark.usefixtures("restore_levels")
def test_a_retried_coordinator_lookup_is_not_an_error(level: str) -> None:
    # A fresh broker answers GroupCoordinatorNotAvailable until its offsets topic exists; consumers retry.
    logging.getLogger().setLevel(level)
    configure_logging("test", level)
    logger = logging.getLogger("aiokafka.consumer.group_coordinator")
    seen: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    handler = Keep()
    logger.addHandler(handler)
    try:
        logger.error("Group Coordinator Request failed: %s", GroupCoordinatorNotAvailableError())
        assert not [r for r in seen if r.levelno >= logging.WARNING]
        # A lookup error that is not retried stays an ERROR.
        logger.error("Group Coordinator Request failed: %s", InvalidGroupIdError())
        assert [r.levelno for r in seen] == [logging.ERROR]
    finally:
        logger.removeHandler(handler)
