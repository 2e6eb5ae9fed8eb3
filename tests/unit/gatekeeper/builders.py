"""Builders of decide inputs and policy books for the gatekeeper tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from schemas.vocab import Channel
from services.core.settings import load_toml
from services.gatekeeper.decide_cli import DEFAULT_POLICIES
from services.gatekeeper.model import DecideInput
from services.gatekeeper.policy import Pack, PolicyBook

NY = ZoneInfo("America/New_York")
LA = ZoneInfo("America/Los_Angeles")
SHANGHAI = ZoneInfo("Asia/Shanghai")
LONDON = ZoneInfo("Europe/London")
ALL_CHANNELS = [channel.value for channel in Channel]

BOOK = PolicyBook.load(DEFAULT_POLICIES)


def real_pack(name: str) -> Pack:
    return load_toml(DEFAULT_POLICIES / f"{name}.toml", Pack)


def book_of(*names: str) -> PolicyBook:
    """A book with only some of the real packs, to test one pack without the BANK pack's stricter limits."""
    return PolicyBook.from_packs(real_pack(name) for name in names)


def local(zone: ZoneInfo, text: str) -> datetime:
    """``2026-06-10 07:30`` read as wall-clock time in ``zone``."""
    return datetime.fromisoformat(text).replace(tzinfo=zone)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def entry(
    channel: str,
    at: datetime,
    outcome: str,
    account_id: str = "a1",
    *,
    relation: str | None = None,
    tags: Sequence[str] = (),
) -> dict[str, Any]:
    """A contact history entry; ``relation`` and ``tags`` are left out unless given (the defaults apply)."""
    found: dict[str, Any] = {
        "channel": channel,
        "account_id": account_id,
        "at": at.isoformat(),
        "outcome": outcome,
    }
    if relation is not None:
        found["relation"] = relation
    if tags:
        found["template_tags"] = list(tags)
    return found


def escalation_entry(
    escalation: str, at: datetime, decision: str = "allow", account_id: str = "a1"
) -> dict[str, Any]:
    return {
        "kind": "escalation",
        "escalation": escalation,
        "account_id": account_id,
        "at": at.isoformat(),
        "decision": decision,
    }


def make_input(
    now: datetime,
    *,
    channel: str = "voice",
    jurisdictions: Sequence[str] = (),
    timezone: str | None = "America/New_York",
    phones: Sequence[str] = (),
    consents: Sequence[str] = ALL_CHANNELS,
    opt_outs: Sequence[str] = (),
    flags: Sequence[str] = (),
    inconvenient: Sequence[tuple[str, str]] = (),
    history: Iterable[dict[str, Any]] = (),
    kind: str = "outreach",
    account_id: str = "a1",
    not_before: datetime | None = None,
    expires_at: datetime | None = None,
    relation: str | None = None,
    address: str | None = None,
    tags: Sequence[str] = (),
    escalation: str | None = None,
) -> DecideInput:
    """A decide input; ``escalation`` makes it an escalation request (no channel), ``relation`` or ``address``
    give it a destination."""
    request: dict[str, Any] = {"channel": channel} if escalation is None else {"escalation": escalation}
    if escalation is not None:
        kind = "escalation"
    if relation is not None or address is not None:
        request["destination"] = {"address": address, "relation": relation or "self"}
    if tags:
        request["template_tags"] = list(tags)
    return DecideInput.model_validate(
        {
            "now": now.isoformat(),
            "debtor": {
                "debtor_id": "d1",
                "jurisdictions": list(jurisdictions),
                "timezone": timezone,
                "phones": list(phones),
                "consents": list(consents),
                "opt_outs": list(opt_outs),
                "flags": list(flags),
                "inconvenient": [{"start": start, "end": end} for start, end in inconvenient],
            },
            "request": {
                **request,
                "request_id": "r1",
                "account_id": account_id,
                "kind": kind,
                "not_before": not_before.isoformat() if not_before else None,
                "expires_at": expires_at.isoformat() if expires_at else None,
            },
            "history": list(history),
        }
    )


def write_pack(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def book_in(directory: Path) -> PolicyBook:
    """The packs written to ``directory`` alone: a deployment's folder must also hold BANK, a test's not."""
    return PolicyBook.from_packs(load_toml(path, Pack) for path in sorted(directory.glob("*.toml")))


def copy_packs(directory: Path, *, without: str = "", edit: tuple[str, str] = ("", "")) -> Path:
    """The shipped packs in ``directory``, less the file ``without``, with one text replaced in bank.toml."""
    for path in DEFAULT_POLICIES.glob("*.toml"):
        if path.name != without:
            text = path.read_text(encoding="utf-8")
            write_pack(directory, path.stem, text.replace(*edit) if path.name == "bank.toml" else text)
    return directory
