"""One publication per action id, also when the copies of a double submit arrive together."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from services.core import codec
from services.portal import actions
from services.portal.book import Book
from services.portal.pages import Once

NOW = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)


class SlowLog:
    """An in-memory stand-in for the publisher: slow enough for copies to overlap; fails when told to."""

    def __init__(self) -> None:
        self.published: list[str] = []
        self.fail = False

    async def publish(self, events: list[tuple[BaseModel, str]]) -> None:
        await asyncio.sleep(0.01)
        if self.fail:
            raise ConnectionError("broker unavailable")
        self.published.extend(event_id for _, event_id in events)


async def test_copies_arriving_together_publish_once() -> None:
    log, once = SlowLog(), Once(Book())
    event, event_id = actions.not_me("d1", "+12125550100", "nonce-aaaaaaaaaaaaaaaa", NOW)
    results = await asyncio.gather(*[once.publish(log.publish, event, event_id) for _ in range(3)])
    assert sorted(results) == [False, False, True]
    assert log.published == [event_id]
    assert await once.publish(log.publish, event, event_id) is False
    other, other_id = actions.not_me("d1", "+12125550100", "nonce-bbbbbbbbbbbbbbbb", NOW)
    assert await once.publish(log.publish, other, other_id) is True
    assert log.published == [event_id, other_id]


async def test_an_action_already_on_the_log_is_not_published_again() -> None:
    book, log = Book(), SlowLog()
    event, event_id = actions.not_me("d1", "+12125550100", "nonce-aaaaaaaaaaaaaaaa", NOW)
    enc = codec.encode(event, source="/collections/portal", time=NOW, id=event_id)
    book.apply(codec.decode(enc.key, enc.value, enc.headers))  # read back after a restart
    assert await Once(book).publish(log.publish, event, event_id) is False
    assert log.published == []


async def test_a_failed_publication_is_retried_by_the_next_copy() -> None:
    log, once = SlowLog(), Once(Book())
    event, event_id = actions.not_me("d1", "+12125550100", "nonce-aaaaaaaaaaaaaaaa", NOW)
    log.fail = True
    with pytest.raises(ConnectionError):
        await once.publish(log.publish, event, event_id)
    log.fail = False
    assert await once.publish(log.publish, event, event_id) is True
    assert log.published == [event_id]
