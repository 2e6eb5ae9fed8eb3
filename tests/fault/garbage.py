"""Garbage records for the malformed-input fault tests, drawn by hypothesis around one good
encoded record: random bytes, missing headers, unknown event types, a 900 KiB value, a key that is not the
debtor id. Each test adds the wrong types its consumer's model must refuse."""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson
from hypothesis import strategies as st

from services.core.codec import REQUIRED_HEADERS, Encoded

# The reason the dead letter must carry, then the record as produced: key, value, headers.
Junk = tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]


def headers(
    good: Encoded, drop: frozenset[str] = frozenset(), replace: dict[str, bytes] | None = None
) -> list[tuple[str, bytes]]:
    replace = replace or {}
    return [(name, replace.get(name, value)) for name, value in good.headers if name not in drop]


def with_field(good: Encoded, field: str, value: object) -> Junk:
    """``good`` with one field of its payload replaced by a value its model must refuse."""
    body = orjson.loads(good.value) | {field: value}
    return ("schema_violation", good.key, orjson.dumps(body), headers(good))


def from_the_future(good: Encoded, now: datetime, beyond: timedelta) -> Junk:
    """``good`` stamped ``beyond`` the tolerated clock skew after ``now``."""
    stamp = (now + beyond).isoformat().encode()
    return ("future_time", good.key, good.value, headers(good, replace={"ce_time": stamp}))


def too_large(good: Encoded) -> Junk:
    return ("too_large", good.key, b'{"pad": "' + b"x" * 900 * 1024 + b'"}', headers(good))


def _not_json(raw: bytes) -> bool:
    try:
        orjson.loads(raw)
    except orjson.JSONDecodeError:
        return True
    return False


def junk(good: Encoded, wrong_types: st.SearchStrategy[Junk]) -> st.SearchStrategy[Junk]:
    """One garbage record of any kind; ``wrong_types`` draws the schema violations."""
    debtor = good.key.decode()
    return st.one_of(
        st.binary(min_size=1, max_size=300)
        .filter(_not_json)
        .map(lambda raw: ("invalid_json", good.key, raw, headers(good))),
        wrong_types,
        st.sets(st.sampled_from(REQUIRED_HEADERS), min_size=1).map(
            lambda drop: ("missing_header", good.key, good.value, headers(good, drop=frozenset(drop)))
        ),
        st.text(alphabet="abcdefghijklmnopqrstuvwxyz.", min_size=1, max_size=40).map(
            lambda t: (
                "unknown_type",
                good.key,
                good.value,
                headers(good, replace={"ce_type": f"x.{t}".encode()}),
            )
        ),
        st.just(too_large(good)),
        st.text(alphabet="abcdefghij0123456789", min_size=1, max_size=12)
        .filter(lambda key: key != debtor)
        .map(lambda key: ("key_mismatch", key.encode(), good.value, headers(good))),
    )
