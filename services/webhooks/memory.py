"""Bounded memories of what this instance has already handled: provider retries of one callback, and the
furthest status each message reached. Outcome ids are deterministic, so what slips past (a restart, another
instance) is a duplicate id that consumers drop, never a second fact."""

from __future__ import annotations

from collections import OrderedDict


class Seen:
    """The last ``size`` keys handled."""

    def __init__(self, size: int = 100_000) -> None:
        self.size = size
        self._keys: OrderedDict[str, None] = OrderedDict()

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def add(self, key: str) -> None:
        self._keys[key] = None
        self._keys.move_to_end(key)
        while len(self._keys) > self.size:
            self._keys.popitem(last=False)


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
