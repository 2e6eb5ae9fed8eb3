"""Bounded memories of what this instance has in hand or has handled: copies of one callback (provider
retries, replays), and the furthest status each message reached. Outcome ids are deterministic, so what slips
past (a restart, another instance) is a duplicate id that consumers drop, never a second fact."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence


class Claims:
    """Requests in hand and the last ``size`` handled, by their keys (signature, Twilio's idempotency token).

    A request is claimed before it is acted on, so that copies arriving while it is in hand are answered
    without acting again; a request that fails gives its claim back, so that the provider's retry is
    handled. Only handled keys are bounded: the ones in hand are as many as the requests being served.
    """

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._held: set[str] = set()
        self._done: OrderedDict[str, None] = OrderedDict()

    def claim(self, keys: Sequence[str]) -> bool:
        """Claim every key, or none when one of them is in hand or handled already."""
        if any(key in self._held or key in self._done for key in keys):
            return False
        self._held.update(keys)
        return True

    def settle(self, keys: Sequence[str]) -> None:
        self._held.difference_update(keys)
        for key in keys:
            self._done[key] = None
            self._done.move_to_end(key)
        while len(self._done) > self.size:
            self._done.popitem(last=False)

    def release(self, keys: Sequence[str]) -> None:
        self._held.difference_update(keys)


class Furthest:
    """The highest rank each key has reached; a lower or equal rank is stale."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._ranks: OrderedDict[str, int] = OrderedDict()

    def moves_forward(self, key: str, rank: int) -> bool:
        return self._ranks.get(key, -1) < rank

    def record(self, key: str, rank: int) -> None:
        if not self.moves_forward(key, rank):
            return
        self._ranks[key] = rank
        self._ranks.move_to_end(key)
        while len(self._ranks) > self.size:
            self._ranks.popitem(last=False)
