"""The redrive command's checks without a broker: what may go back where, how positions are chosen, how a
record that is not a dead letter or an import line that is not an export's is reported."""

from __future__ import annotations

import argparse

import orjson
import pytest

from schemas import events as ev
from schemas.topics import ACCOUNT, DEADLETTER, DECISIONS, DISPATCH, REQUESTS
from schemas.vocab import Channel
from services.core import codec, redrive
from services.core.catalog import load_catalog
from services.core.cli import main
from services.core.redrive import Found, Outcome, Outgoing, Position, Refused, Skipped, Span
from tests.factories import T0, samples
from tests.support import dead_letter

CATALOG = load_catalog()
PREFIX = "t1."
PROG = "python -m services.core.redrive"


def sample(kind: type[ev.BaseModel]) -> ev.BaseModel:
    return next(event for event in samples(debtor="d-rd") if isinstance(event, kind))


def encoded(kind: type[ev.BaseModel]) -> codec.Encoded:
    return codec.encode(sample(kind), source="/tests", time=T0, id=f"id-{kind.__name__}")


def check(topic: str, enc: codec.Encoded, prefix: str = PREFIX) -> Outgoing | Refused:
    return redrive.check("0:1", topic, enc.key, enc.value, enc.headers, catalog=CATALOG, prefix=prefix)


def test_offsets_name_their_partition() -> None:
    assert redrive.parse_offsets("1:10-20") == (Span(1, 10, 20),)
    assert redrive.parse_offsets("1:10-20, 2:7") == (Span(1, 10, 20), Span(2, 7, 7))
    assert Position(1, 10) in Span(1, 10, 20) and Position(1, 20) in Span(1, 10, 20)
    assert Position(0, 15) not in Span(1, 10, 20) and Position(1, 21) not in Span(1, 10, 20)
    with pytest.raises(
        argparse.ArgumentTypeError, match=r"'10-20' names no partition: write PARTITION:FROM-TO"
    ):
        redrive.parse_offsets("10-20")
    for bad in ("abc", "1:", "1:10-", "1:20-10", "1:10-20,"):
        with pytest.raises(argparse.ArgumentTypeError):
            redrive.parse_offsets(bad)


@pytest.mark.parametrize(
    "argv",
    [
        ["list", "--offsets", "abc"],
        ["replay", "--offsets", "10-20"],
        ["export", "out.jsonl", "--offsets", "1:9-3"],
    ],
)
def test_bad_offsets_are_one_line_and_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(PROG, redrive.COMMANDS, argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "--offsets" in err and "Traceback" not in err


def test_a_selection_with_offsets_reads_only_their_partitions() -> None:
    selection = redrive.Selection(spans=redrive.parse_offsets("1:10-20,2:3"))
    assert selection.partitions() == {1, 2}
    assert selection.covers(Position(2, 3)) and not selection.covers(Position(0, 12))
    assert redrive.Selection().partitions() is None and redrive.Selection().covers(Position(0, 12))


def test_a_valid_record_goes_back_to_its_redrivable_source_topic() -> None:
    outgoing = check(f"{PREFIX}{ACCOUNT}", encoded(ev.AccountOverdue))
    assert isinstance(outgoing, Outgoing)
    assert (outgoing.topic, outgoing.type) == (f"{PREFIX}{ACCOUNT}", "collections.AccountOverdue.v1")


def test_no_dispatch_topic_is_ever_a_redrive_target() -> None:
    for channel, topic in DISPATCH.items():
        approval = sample(ev.ContactApproved).model_copy(update={"channel": channel})
        refused = check(f"{PREFIX}{topic}", codec.encode(approval, source="/x", time=T0))
        assert isinstance(refused, Refused), topic
        assert "is not redrivable" in refused.reason and "redrive its contact request" in refused.reason


def test_topics_that_are_not_redrivable_or_not_in_the_catalog_are_refused() -> None:
    decision = check(f"{PREFIX}{DECISIONS}", encoded(ev.ComplianceDecision))
    assert isinstance(decision, Refused) and "is not redrivable" in decision.reason
    for topic in (f"{PREFIX}external-events", ACCOUNT, f"t2.{ACCOUNT}", f"{PREFIX}{DEADLETTER}x"):
        refused = check(topic, encoded(ev.AccountOverdue))
        assert isinstance(refused, Refused) and "is not a catalog topic" in refused.reason, topic
    assert isinstance(check(ACCOUNT, encoded(ev.AccountOverdue), prefix=""), Outgoing)


def test_a_record_is_decoded_again_and_must_be_declared_for_its_topic() -> None:
    approval = check(f"{PREFIX}{REQUESTS}", encoded(ev.ContactApproved))
    assert isinstance(approval, Refused)
    assert approval.reason == f"wrong_topic: collections.ContactApproved.v1 is not declared for {REQUESTS}"
    good = encoded(ev.AccountOverdue)
    broken = orjson.loads(good.value)
    del broken["account_id"]
    schema = check(f"{PREFIX}{ACCOUNT}", codec.Encoded(good.key, orjson.dumps(broken), good.headers))
    assert isinstance(schema, Refused) and schema.reason.startswith("not a valid record: schema_violation")
    wrong_key = check(f"{PREFIX}{ACCOUNT}", codec.Encoded(b"d-other", good.value, good.headers))
    assert isinstance(wrong_key, Refused) and "key_mismatch" in wrong_key.reason
    no_headers = check(f"{PREFIX}{ACCOUNT}", codec.Encoded(good.key, good.value, []))
    assert isinstance(no_headers, Refused) and "missing_header" in no_headers.reason


def test_a_dead_letter_whose_original_is_not_base64_is_refused() -> None:
    enc = encoded(ev.AccountOverdue)
    letter = dead_letter(f"{PREFIX}{ACCOUNT}", enc.key, enc.value, enc.headers).model_copy(
        update={"value_b64": "not base64!"}
    )
    [refused] = redrive.plan_letters([Found(Position(2, 5), letter)], CATALOG, PREFIX)
    assert refused == Refused("2:5", "its original key, value or headers are not valid base64")


def test_a_record_of_the_dead_letter_topic_that_is_not_a_dead_letter_is_skipped() -> None:
    position = Position(1, 4)
    assert redrive.as_letter(position, b"k", b"PLANTED secret", []) == Skipped(
        position, "not a DeadLetter (missing_header)"
    )
    enc = encoded(ev.AccountOverdue)
    assert redrive.as_letter(position, enc.key, enc.value, enc.headers) == Skipped(
        position, "not a DeadLetter (a collections.AccountOverdue.v1)"
    )
    letter = dead_letter(f"{PREFIX}{ACCOUNT}", enc.key, enc.value, enc.headers)
    wrapped = codec.encode(letter, source="/collections/tests", time=T0)
    assert redrive.as_letter(position, wrapped.key, wrapped.value, wrapped.headers) == Found(position, letter)


def exported(enc: codec.Encoded, topic: str = f"{PREFIX}{ACCOUNT}", **changes: object) -> bytes:
    letter = dead_letter(topic, enc.key, enc.value, enc.headers)
    line = orjson.loads(redrive.export_lines([Found(Position(0, 3), letter)])[0])
    return orjson.dumps(line | changes)


def test_import_checks_every_corrected_line_as_a_replay_does() -> None:
    good = encoded(ev.AccountOverdue)
    still_broken = orjson.loads(good.value)
    del still_broken["account_id"]
    approval = encoded(ev.ContactApproved)
    lines = [
        exported(good),
        b"",
        exported(good, value=orjson.dumps(still_broken).decode()),
        exported(approval, topic=f"{PREFIX}{DISPATCH[Channel.SMS]}"),
        exported(approval, topic=f"{PREFIX}{REQUESTS}"),
    ]
    planned = redrive.plan_lines(lines, CATALOG, PREFIX)
    assert [type(item).__name__ for item in planned] == ["Outgoing", "Refused", "Refused", "Refused"]
    assert [item.where for item in planned] == ["line 1", "line 3", "line 4", "line 5"]
    refused = [item.reason for item in planned if isinstance(item, Refused)]
    assert refused[0].startswith("not a valid record: schema_violation: account_id")
    assert "is not redrivable" in refused[1] and refused[2].startswith("wrong_topic")
    assert all(b"d-rd" not in item.reason.encode() for item in planned if isinstance(item, Refused))


def test_an_import_file_that_is_not_an_export_is_refused_whole() -> None:
    good = exported(encoded(ev.AccountOverdue))
    with pytest.raises(redrive.BadImportFile, match=r"^line 2 is not JSON$"):
        redrive.plan_lines([good, b"{oops"], CATALOG, PREFIX)
    with pytest.raises(redrive.BadImportFile, match=r"^line 1 is not an exported dead letter \(headers"):
        redrive.plan_lines([orjson.dumps(orjson.loads(good) | {"headers": ["x"]})], CATALOG, PREFIX)
    with pytest.raises(redrive.BadImportFile, match=r"vlaue: Extra inputs are not permitted"):
        redrive.plan_lines([orjson.dumps(orjson.loads(good) | {"vlaue": "{}"})], CATALOG, PREFIX)


def test_the_import_command_fails_on_a_line_that_is_not_json_before_sending_anything(
    tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(exported(encoded(ev.AccountOverdue)) + b"\nnot json at all\n")
    # The broker named is never reached: the file is refused first.
    assert main(PROG, redrive.COMMANDS, ["import", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err == f"{PROG}: {path}: line 2 is not JSON; nothing was republished\n"


def test_a_dry_run_report_names_position_type_and_topic_never_the_payload(
    capsys: pytest.CaptureFixture[str],
) -> None:
    enc = encoded(ev.AccountOverdue)
    planned: list[Outgoing | Refused] = [
        Outgoing(
            "1:10", f"{PREFIX}{ACCOUNT}", "collections.AccountOverdue.v1", enc.key, enc.value, enc.headers
        ),
        Refused("1:11", "source topic t1.collections.dispatch.sms.v1 is not redrivable"),
    ]
    skipped = [Skipped(Position(1, 12), "not a DeadLetter (invalid_json)")]
    assert redrive._report(Outcome(planned, sent=False), skipped) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        f"1:10 would send collections.AccountOverdue.v1 to {PREFIX}{ACCOUNT}",
        "1 records would be republished (dry run: nothing sent), 1 refused, 1 skipped",
    ]
    assert err.splitlines() == [
        "1:12 skipped: not a DeadLetter (invalid_json)",
        "1:11 refused: source topic t1.collections.dispatch.sms.v1 is not redrivable",
    ]
    assert b"d-rd" not in (out + err).encode() and "120.50" not in out + err
