"""Policy packs: the shipped packs hold the laws' numbers; a bad file fails naming file and field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from schemas.events import EscalationKind
from schemas.vocab import Channel, DecisionKind, OutcomeStatus, Relation, TemplateTag
from services.core.settings import ConfigError
from services.gatekeeper.decide_cli import DEFAULT_POLICIES
from services.gatekeeper.engine import decide
from services.gatekeeper.policy import (
    DEFAULT_THIRD_PARTY,
    NoVersionInForceError,
    Period,
    PolicyBook,
    Scope,
)
from tests.unit.gatekeeper.builders import BOOK, NY, copy_packs, local, make_input, write_pack

OS = OutcomeStatus
SMS, EMAIL, VOICE = Channel.SMS, Channel.EMAIL, Channel.VOICE
NOW = datetime(2026, 6, 10, tzinfo=UTC)


def _caps(pack: str) -> dict[str, tuple[object, ...]]:
    version = BOOK.packs[pack].version_at(NOW)
    return {
        cap.name: (
            cap.channels,
            cap.applies_to,
            cap.outcomes,
            cap.outcomes_except,
            cap.period,
            cap.scope,
            cap.limit,
        )
        for cap in version.caps
    }


def test_shipped_packs() -> None:
    assert set(BOOK.packs) == {"BANK", "US", "US-MA", "CN", "GB", "EU"}
    assert [pid for pid, pack in BOOK.packs.items() if pack.applies_to_all] == ["BANK"]
    assert BOOK.packs["US-MA"].includes == ("US",)


def test_bank_pack_numbers() -> None:
    version = BOOK.packs["BANK"].version_at(NOW)
    [window] = version.windows
    assert (window.channels, window.start.isoformat(), window.end.isoformat()) == (
        frozenset(Channel),
        "08:00:00",
        "21:00:00",
    )
    failed = frozenset({OS.FAILED})
    assert _caps("BANK") == {
        "sms_per_day": (frozenset({SMS}), None, None, failed, Period.LOCAL_DAY, Scope.DEBTOR, 1),
        "sms_per_7_days": (frozenset({SMS}), None, None, failed, Period.SEVEN_LOCAL_DAYS, Scope.DEBTOR, 3),
        "email_per_day": (frozenset({EMAIL}), None, None, failed, Period.LOCAL_DAY, Scope.DEBTOR, 1),
        "voice_attempts_per_day": (frozenset({VOICE}), None, None, failed, Period.LOCAL_DAY, Scope.DEBTOR, 3),
    }
    assert (version.consent_required, version.cooldowns, version.calendar) == (frozenset(), (), None)


def test_us_pack_numbers() -> None:
    version = BOOK.packs["US"].version_at(NOW)
    placed = frozenset({OS.NO_ANSWER, OS.VOICEMAIL, OS.CONVERSATION, OS.APPROVED})
    assert _caps("US") == {
        "voice_placed_calls_per_7_days": (
            frozenset({VOICE}),
            None,
            placed,
            None,
            Period.SEVEN_LOCAL_DAYS,
            Scope.ACCOUNT,
            7,
        )
    }
    [cooldown] = version.cooldowns
    assert (
        cooldown.after_channels,
        cooldown.after_outcomes,
        cooldown.applies_to,
        cooldown.scope,
        cooldown.local_days,
    ) == (frozenset({VOICE}), frozenset({OS.CONVERSATION}), frozenset({VOICE}), Scope.ACCOUNT, 7)
    assert version.consent_required == frozenset({SMS, VOICE})
    assert version.windows == ()


def test_us_ma_pack_numbers() -> None:
    initiated = frozenset({OS.APPROVED, OS.SENT, OS.DELIVERED, OS.NO_ANSWER, OS.VOICEMAIL, OS.CONVERSATION})
    both = frozenset({SMS, VOICE})
    assert _caps("US-MA") == {
        "initiated_calls_and_texts_per_7_days": (
            both,
            both,
            initiated,
            None,
            Period.SEVEN_LOCAL_DAYS,
            Scope.ACCOUNT,
            2,
        )
    }


def test_cn_pack_numbers() -> None:
    version = BOOK.packs["CN"].version_at(NOW)
    assert version.calendar == "CN"
    assert _caps("CN") == {
        "voice_unanswered_per_day": (
            frozenset({VOICE}),
            None,
            frozenset({OS.NO_ANSWER, OS.BUSY, OS.VOICEMAIL}),
            None,
            Period.LOCAL_DAY,
            Scope.DEBTOR,
            6,
        ),
        "voice_conversations_per_day": (
            frozenset({VOICE}),
            None,
            frozenset({OS.CONVERSATION}),
            None,
            Period.LOCAL_DAY,
            Scope.DEBTOR,
            3,
        ),
    }


def test_cn_third_parties() -> None:
    rule = BOOK.packs["CN"].version_at(NOW).third_party
    assert rule is not None
    assert (rule.name, rule.as_debtor, rule.when_unreachable, rule.required_tag) == (
        "third_party_contact",
        frozenset({Relation.GUARANTOR}),
        frozenset({Relation.EMERGENCY_CONTACT}),
        TemplateTag.LIMITED_CONTENT,
    )
    assert rule.unreachable is not None
    assert (
        rule.unreachable.failed_calls,
        rule.unreachable.failed_outcomes,
        rule.unreachable.reached_outcomes,
        rule.unreachable.reached_within_hours,
    ) == (
        3,
        frozenset({OS.NO_ANSWER, OS.BUSY, OS.NOT_CONNECTED, OS.FAILED}),
        frozenset({OS.CONVERSATION, OS.REPLIED, OS.AGENT_TRANSFER}),
        72,
    )


def test_only_cn_speaks_of_third_parties_today() -> None:
    # Every other pack leaves the default: the debtor and a guarantor only.
    speaking = {pid for pid, pack in BOOK.packs.items() if any(v.third_party for v in pack.versions)}
    assert speaking == {"CN"}
    assert DEFAULT_THIRD_PARTY[1].as_debtor == frozenset({Relation.GUARANTOR})
    assert DEFAULT_THIRD_PARTY[1].when_unreachable == frozenset()


EU_START = datetime(2026, 11, 20, tzinfo=UTC)


def test_eu_pack_numbers() -> None:
    pack = BOOK.packs["EU"]
    [version] = pack.versions
    assert (version.version, version.effective_from) == ("2026.1", EU_START)
    [window] = version.windows
    assert (window.name, window.channels, window.start.isoformat(), window.end.isoformat()) == (
        "contact_hours",
        frozenset(Channel),
        "08:00:00",
        "20:00:00",
    )
    assert (version.caps, version.cooldowns, version.calendar, version.consent_required) == (
        (),
        (),
        None,
        frozenset(),
    )
    assert version.debt_advice is not None and version.debt_advice.name == "debt_advice_referral"
    rule = version.forbearance
    assert rule is not None
    assert (rule.before, rule.forbearance_notice_days, rule.offer_outcomes, rule.offer_escalations) == (
        frozenset({EscalationKind.LEGAL, EscalationKind.AGENCY_PLACEMENT}),
        14,
        frozenset({OS.SENT, OS.DELIVERED, OS.CONVERSATION, OS.VOICEMAIL}),
        frozenset({EscalationKind.RESTRUCTURING_OFFER}),
    )
    with pytest.raises(NoVersionInForceError, match="pack EU has no version in force"):
        BOOK.resolve(["EU"], EU_START - timedelta(seconds=1))


REVOKE_ALL = datetime(2027, 1, 31, tzinfo=UTC)


def test_us_revoke_all_version_keeps_every_earlier_rule() -> None:
    first, second = BOOK.packs["US"].versions
    assert (first.version, second.version, second.effective_from) == ("2026.1", "2027.1", REVOKE_ALL)
    assert first.revocations == ()
    [revocation] = second.revocations
    assert (revocation.name, revocation.channels) == ("revoke_all", frozenset({SMS, VOICE}))
    assert second.model_copy(update={"version": first.version, "effective_from": first.effective_from}) == (
        first.model_copy(update={"revocations": second.revocations})
    )


def test_massachusetts_gets_the_us_version_in_force() -> None:
    # US-MA includes the US pack, not one of its versions: the US version in force at now comes with it.
    for moment, us_version in ((REVOKE_ALL - timedelta(seconds=1), "2026.1"), (REVOKE_ALL, "2027.1")):
        applied = {ap.pack: ap.version.version for ap in BOOK.resolve(["US-MA"], moment)}
        assert applied == {"BANK": "2026.1", "US-MA": "2026.1", "US": us_version}


def test_next_change_is_the_next_version_of_an_applied_pack() -> None:
    moment = REVOKE_ALL - timedelta(days=1)
    assert BOOK.next_change(BOOK.resolve(["US-MA"], moment), moment) == REVOKE_ALL
    assert BOOK.next_change(BOOK.resolve(["US-MA"], REVOKE_ALL), REVOKE_ALL) is None
    assert BOOK.next_change(BOOK.resolve(["GB"], moment), moment) is None


def test_gb_pack_is_empty() -> None:
    version = BOOK.packs["GB"].version_at(NOW)
    assert (version.windows, version.caps, version.cooldowns, version.calendar) == ((), (), (), None)
    assert version.consent_required == frozenset()


def test_resolve_applies_each_pack_once_with_includes() -> None:
    applied = BOOK.resolve(["US-MA", "US", "US-MA"], NOW)
    assert [ap.pack for ap in applied] == ["BANK", "US-MA", "US"]
    assert [ap.pack for ap in BOOK.resolve([], NOW)] == ["BANK"]


VERSIONED = """
pack = "BANK"
applies_to_all = true

[[versions]]
version = "v1"
effective_from = 2026-01-01
[[versions.windows]]
name = "hours"
start = 08:00:00
end = 21:00:00

[[versions]]
version = "v2"
effective_from = 2026-07-01T00:00:00-04:00
[[versions.windows]]
name = "hours"
start = 09:00:00
end = 20:00:00
"""


def test_version_in_force_by_effective_date(tmp_path: Path) -> None:
    write_pack(tmp_path, "bank", VERSIONED)
    book = PolicyBook.load(tmp_path)
    before = decide(make_input(local(NY, "2026-06-30 23:59:59")), book)
    assert (before.decision, before.pack_versions) == (DecisionKind.DEFER, {"BANK": "v1"})
    assert before.not_before == local(
        NY, "2026-07-01 08:00"
    )  # searched under v1, the version in force at now
    on_time = decide(make_input(local(NY, "2026-07-01 08:30")), book)
    assert (on_time.decision, on_time.not_before, on_time.pack_versions) == (
        DecisionKind.DEFER,
        local(NY, "2026-07-01 09:00"),
        {"BANK": "v2"},
    )
    assert decide(make_input(local(NY, "2026-06-30 08:30")), book).decision is DecisionKind.ALLOW


def test_no_version_in_force_is_an_error(tmp_path: Path) -> None:
    write_pack(tmp_path, "bank", VERSIONED)
    with pytest.raises(NoVersionInForceError, match="BANK"):
        decide(make_input(local(NY, "2025-12-31 10:00")), PolicyBook.load(tmp_path))


GOOD_CAP = """
[[versions.caps]]
name = "first"
channels = ["sms"]
outcomes = ["sent"]
period = "local_day"
scope = "debtor"
limit = 1
"""

HEADER = """
pack = "US"
[[versions]]
version = "1"
effective_from = 2026-01-01
"""


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            HEADER + GOOD_CAP + GOOD_CAP.replace('"first"', '"second"').replace("limit = 1", "limit = 0"),
            "versions[0].caps[1].limit: Input should be greater than 0",
        ),
        (
            HEADER + GOOD_CAP.replace("limit = 1", "limit = 1\nlimt = 2"),
            "versions[0].caps[0].limt: Extra inputs are not permitted",
        ),
        (
            HEADER + GOOD_CAP.replace('period = "local_day"', 'period = "week"'),
            "versions[0].caps[0].period: Input should be 'local_day' or '7_local_days'",
        ),
        (
            HEADER
            + GOOD_CAP.replace('outcomes = ["sent"]', 'outcomes = ["sent"]\noutcomes_except = ["failed"]'),
            "versions[0].caps[0]: Value error, give exactly one of outcomes and outcomes_except",
        ),
        (HEADER + 'calendar = "XX"\n', "versions[0].calendar: Value error, unknown holiday calendar 'XX'"),
        (HEADER.replace('pack = "US"', 'pack = "US"\nversions = []'), "not valid TOML"),
        ('pack = "US"\nversions = []\n', "versions: Value error, at least one version is required"),
        (
            HEADER + HEADER.split("\n", 2)[2],
            "versions: Value error, versions must be listed by strictly increasing",
        ),
        (HEADER + GOOD_CAP + GOOD_CAP, "rule names must be unique within a version: first"),
        (
            HEADER + '[[versions.windows]]\nname = "h"\nstart = 08:00:00\nend = 08:00:00\n',
            "versions[0].windows[0]: Value error, start and end must differ",
        ),
        (
            HEADER + '[versions.third_party]\nname = "t"\nas_debtor = ["self"]\n',
            "versions[0].third_party: Value error, 'self' is always allowed: list only third parties",
        ),
        (
            HEADER + '[versions.third_party]\nname = "t"\nwhen_unreachable = ["emergency_contact"]\n',
            "versions[0].third_party: Value error, when_unreachable needs an [unreachable] table",
        ),
        (
            HEADER + '[versions.third_party]\nname = "t"\nas_debtor = ["cousin"]\n',
            "versions[0].third_party.as_debtor[0]: Input should be 'self', 'guarantor', 'emergency_contact'",
        ),
        (
            HEADER + '[[versions.revocations]]\nname = "r"\nchannels = ["sms"]\n',
            "versions[0].revocations[0].channels: Frozenset should have at least 2 items",
        ),
        (
            HEADER
            + '[versions.forbearance]\nname = "f"\nbefore = ["lawsuit"]\nforbearance_notice_days = 14\n'
            + 'offer_outcomes = ["sent"]\n',
            "versions[0].forbearance.before[0]: Input should be 'legal', 'agency_placement'",
        ),
        (
            HEADER + '[versions.debt_advice]\nname = "first"\n' + GOOD_CAP,
            "rule names must be unique within a version: first",
        ),
    ],
    ids=[
        "limit",
        "unknown-key",
        "period",
        "outcome-selector",
        "calendar",
        "toml",
        "no-versions",
        "order",
        "names",
        "empty-window",
        "third-party-self",
        "third-party-unreachable",
        "third-party-relation",
        "revocation-one-channel",
        "forbearance-escalation",
        "names-across-kinds",
    ],
)
def test_bad_pack_fails_naming_file_and_field(tmp_path: Path, body: str, message: str) -> None:
    write_pack(tmp_path, "bank", HEADER.replace('pack = "US"', 'pack = "BANK"'))
    path = write_pack(tmp_path, "us", body)
    with pytest.raises(ConfigError) as caught:
        PolicyBook.load(tmp_path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_bad_shipped_pack_message_is_exact(tmp_path: Path) -> None:
    text = (DEFAULT_POLICIES / "us.toml").read_text(encoding="utf-8").replace("limit = 7", "limit = 0", 1)
    path = write_pack(tmp_path, "us", text)
    with pytest.raises(ConfigError) as caught:
        PolicyBook.load(tmp_path)
    assert str(caught.value) == f"{path}: versions[0].caps[0].limit: Input should be greater than 0"


def test_unknown_include_and_duplicate_pack(tmp_path: Path) -> None:
    path = write_pack(
        tmp_path / "a", "ma", 'pack = "US-MA"\nincludes = ["NOPE"]\n' + HEADER.split("\n", 2)[2]
    )
    with pytest.raises(ConfigError, match=r"ma\.toml: includes\[0\]: unknown pack 'NOPE'") as caught:
        PolicyBook.load(tmp_path / "a")
    assert str(caught.value).startswith(str(path))
    write_pack(tmp_path / "b", "one", HEADER)
    write_pack(tmp_path / "b", "two", HEADER)
    with pytest.raises(ConfigError, match=r"two\.toml: pack: 'US' is already defined in .*one\.toml"):
        PolicyBook.load(tmp_path / "b")


def test_directory_without_packs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no policy pack files"):
        PolicyBook.load(tmp_path)
    with pytest.raises(ConfigError, match="no policy pack files"):
        PolicyBook.load(tmp_path / "missing")


def test_a_folder_without_the_bank_pack_is_refused(tmp_path: Path) -> None:
    # Without it a US debtor could be contacted at 22:30 New York time: the contact hours live in BANK.
    folder = copy_packs(tmp_path, without="bank.toml")
    with pytest.raises(ConfigError) as caught:
        PolicyBook.load(folder)
    assert str(caught.value) == (
        f"{folder}: no BANK pack (bank.toml): it holds the contact hours every debtor gets, "
        "and no decision is made without it"
    )


def test_the_bank_pack_applies_to_every_debtor(tmp_path: Path) -> None:
    folder = copy_packs(tmp_path, edit=("applies_to_all = true", "applies_to_all = false"))
    with pytest.raises(ConfigError, match=r": pack BANK: applies_to_all must be true$"):
        PolicyBook.load(folder)
