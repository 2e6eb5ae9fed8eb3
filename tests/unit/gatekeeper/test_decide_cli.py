"""The ``decide`` command as a subprocess, on its exact contract (docs/policy-packs.md)."""

from __future__ import annotations

import os
import selectors
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from services.gatekeeper.decide_cli import DEFAULT_POLICIES
from tests.unit.gatekeeper.builders import copy_packs, write_pack

REPO_ROOT = Path(__file__).resolve().parents[3]
COMMAND = [sys.executable, "-m", "services.gatekeeper", "decide"]
# Not the caller's GATEKEEPER_* variables: each test says which it sets. No signing key: decide signs nothing.
ENV = {
    **{name: value for name, value in os.environ.items() if not name.startswith("GATEKEEPER_")},
    "PYTHONPATH": str(REPO_ROOT),
}

# The contract's example input line (on several lines for reading).
ISSUE_LINE = b"""{"id": "s1", "now": "2026-06-10T11:30:00Z",
 "debtor": {"debtor_id": "d1", "jurisdictions": ["US", "US-MA"], "timezone": "America/New_York",
            "phones": ["+16175550100"], "consents": ["sms", "voice"], "opt_outs": [], "flags": [],
            "inconvenient": [{"start": "12:00", "end": "13:00"}]},
 "request": {"request_id": "r1", "account_id": "a1", "channel": "voice", "kind": "outreach",
             "not_before": null, "expires_at": null},
 "history": [{"channel": "voice", "account_id": "a1", "at": "2026-06-09T15:00:00Z", "outcome": "no_answer"}]}
""".replace(b"\n", b"")


def line(id_: object, now: str = "2026-06-10T14:00:00Z", **changes: Any) -> bytes:
    """A minimal input line (only required fields), with ``changes`` merged into debtor and request."""
    data: dict[str, Any] = {
        "id": id_,
        "now": now,
        "debtor": {"debtor_id": "d1", "timezone": "America/New_York", **changes.pop("debtor", {})},
        "request": {
            "request_id": f"r-{id_}",
            "account_id": "a1",
            "channel": "email",
            **changes.pop("request", {}),
        },
        **changes,
    }
    return orjson.dumps(data)


def run(
    stdin: bytes, *args: str, cwd: Path = REPO_ROOT, env: dict[str, str] | None = None
) -> tuple[list[dict[str, Any]], str, int]:
    done = subprocess.run(
        [*COMMAND, *args],
        input=stdin,
        capture_output=True,
        cwd=cwd,
        env={**ENV, **(env or {})},
        timeout=120,
        check=False,
    )
    return [orjson.loads(out) for out in done.stdout.splitlines()], done.stderr.decode(), done.returncode


def test_issue_example() -> None:
    [out], _, code = run(ISSUE_LINE + b"\n")
    assert code == 0
    assert {key: out[key] for key in ("id", "decision", "not_before", "reasons")} == {
        "id": "s1",
        "decision": "defer",
        "not_before": "2026-06-10T12:00:00Z",
        "reasons": ["QUIET_HOURS"],
    }
    assert out["pack_versions"] == {"BANK": "2026.1", "US": "2026.1", "US-MA": "2026.1"}
    assert out["valid_until"] is None


def test_allow_and_block_shapes() -> None:
    allow, block = run(line("a") + b"\n" + line("b", debtor={"flags": ["dispute"]}))[0]
    assert allow == {
        "id": "a",
        "decision": "allow",
        "not_before": None,
        "reasons": [],
        "rules": [],
        "pack_versions": {"BANK": "2026.1"},
        "valid_until": "2026-06-11T01:00:00Z",
    }
    assert (block["decision"], block["not_before"], block["reasons"]) == ("block", None, ["DISPUTE"])


def test_one_line_per_non_blank_line_in_order_and_errors_do_not_stop_it() -> None:
    stdin = b"\n".join(
        [
            line(1),
            b"",
            line(2, debtor={"jurisdictions": ["XX"]}),
            b"   \t",
            line(3, request={"channel": "fax"}),
            line(4, now="2026-06-10T14:00:00"),
            b"{not json",
            b"[1, 2]",
            line(5, request={"not_before": "2026-06-10T15:00:00"}),
            line(6, shoe_size=44, debtor={"flags": ["vip"], "favourite_colour": "teal"}),
            line(7, now="2026-06-10T14:00:00.987654+00:00", request={"channel": "voice"}),
        ]
    )
    outputs, _, code = run(stdin + b"\n\n")
    assert code == 0
    assert [out["id"] for out in outputs] == [1, 2, 3, 4, None, None, 5, 6, 7]
    errors = {index: out.get("error", "") for index, out in enumerate(outputs)}
    assert "unknown jurisdiction 'XX'" in errors[1]
    assert errors[2].startswith("request.channel: Input should be 'sms', 'email' or 'voice'")
    assert errors[3] == "now: Input should have timezone info"
    assert errors[4].startswith("invalid JSON")
    assert errors[5] == "a line must be a JSON object"
    assert errors[6] == "request.not_before: Input should have timezone info"
    assert [outputs[i]["decision"] for i in (0, 7, 8)] == ["allow", "allow", "allow"]
    assert all("error" not in outputs[i] for i in (0, 7, 8))


def test_optional_fields_may_be_null_or_absent() -> None:
    nulls = line(
        "n",
        debtor={"timezone": None, "phones": ["+12125550100"]},
        request={"not_before": None, "expires_at": None},
        history=[],
    )
    absent = line("a")
    outputs = run(nulls + b"\n" + absent)[0]
    assert [(out["id"], out["decision"]) for out in outputs] == [("n", "allow"), ("a", "allow")]


def test_expired_and_deferred_reasons() -> None:
    expired = line("e", now="2026-06-10T03:00:00Z", request={"expires_at": "2026-06-10T11:00:00Z"})
    deferred = line("d", now="2026-06-10T03:00:00Z", request={"not_before": "2026-06-10T13:15:00+01:00"})
    first, second = run(expired + b"\n" + deferred)[0]
    assert (first["decision"], sorted(first["reasons"])) == ("block", ["EXPIRED", "QUIET_HOURS"])
    assert (second["decision"], second["not_before"], sorted(second["reasons"])) == (
        "defer",
        "2026-06-10T12:15:00Z",
        ["NOT_BEFORE", "QUIET_HOURS"],
    )


def test_runs_from_any_directory_and_takes_a_policies_directory(tmp_path: Path) -> None:
    [out] = run(line("x"), cwd=tmp_path)[0]
    assert out["decision"] == "allow"
    write_pack(tmp_path / "policies", "bank", (DEFAULT_POLICIES / "bank.toml").read_text(encoding="utf-8"))
    write_pack(
        tmp_path / "policies",
        "strict",
        """
pack = "STRICT"
applies_to_all = true
[[versions]]
version = "s1"
effective_from = 2026-01-01
[[versions.windows]]
name = "lunch_only"
start = 12:00:00
end = 13:00:00
""",
    )
    [out] = run(line("x"), "--policies", str(tmp_path / "policies"))[0]
    assert (out["decision"], out["not_before"], out["pack_versions"]) == (
        "defer",
        "2026-06-10T16:00:00Z",
        {"BANK": "2026.1", "STRICT": "s1"},
    )


def test_bad_policies_directory_fails_at_start(tmp_path: Path) -> None:
    path = write_pack(tmp_path, "us", 'pack = "US"\n[[versions]]\nversion = "1"\neffective_from = "soon"\n')
    outputs, stderr, code = run(line("x"), "--policies", str(tmp_path))
    assert (outputs, code) == ([], 2)
    assert f"{path}: versions[0].effective_from: " in stderr


def test_answers_each_line_at_once_in_a_pipe() -> None:
    with subprocess.Popen(
        COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=REPO_ROOT, env=ENV
    ) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        selector = selectors.DefaultSelector()
        selector.register(proc.stdout, selectors.EVENT_READ)
        for id_ in ("p1", "p2"):
            proc.stdin.write(line(id_) + b"\n")
            proc.stdin.flush()
            # stdin stays open: the answer must come without end of input.
            deadline = time.monotonic() + 60
            while not selector.select(timeout=1) and time.monotonic() < deadline:
                pass
            assert orjson.loads(proc.stdout.readline())["id"] == id_
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0


def test_third_party_destination_and_template_tags() -> None:
    calls = [
        {"channel": "voice", "account_id": f"a{i}", "at": f"2026-06-0{i}T02:00:00Z", "outcome": "no_answer"}
        for i in (7, 8, 9)
    ]
    cn = {"jurisdictions": ["CN"], "timezone": "Asia/Shanghai"}
    emergency = {
        "channel": "sms",
        "destination": {"address": "+8613800138000", "relation": "emergency_contact"},
    }
    stdin = b"\n".join(
        [
            line(
                "ok",
                now="2026-06-10T02:00:00Z",
                debtor=cn,
                history=calls,
                request={**emergency, "template_tags": ["limited_content"]},
            ),
            line(
                "reachable",
                now="2026-06-10T02:00:00Z",
                debtor=cn,
                history=calls[1:],
                request={**emergency, "template_tags": ["limited_content"]},
            ),
            line("disclosure", now="2026-06-10T02:00:00Z", debtor=cn, history=calls, request=emergency),
            line("default", request={"destination": {"relation": "other"}}),
            line("guarantor", request={"destination": {"relation": "guarantor"}}),
        ]
    )
    ok, reachable, disclosure, default, guarantor = run(stdin)[0]
    assert (ok["decision"], ok["valid_until"]) == ("allow", "2026-06-10T13:00:00Z")
    assert (reachable["decision"], reachable["reasons"]) == ("block", ["THIRD_PARTY_NOT_ALLOWED"])
    assert (disclosure["reasons"], disclosure["rules"]) == (
        ["THIRD_PARTY_DISCLOSURE"],
        ["CN:third_party_contact"],
    )
    assert (default["reasons"], default["rules"]) == (
        ["THIRD_PARTY_NOT_ALLOWED"],
        ["default:third_party_contact"],
    )
    assert guarantor["decision"] == "allow"


def test_eu_debt_advice_and_an_escalation_with_its_history() -> None:
    eu = {"jurisdictions": ["EU"], "timezone": "Europe/Paris"}
    offer = {
        "kind": "escalation",
        "escalation": "restructuring_offer",
        "account_id": "a1",
        "at": "2026-12-01T09:00:00Z",
        "decision": "allow",
    }
    legal = {"kind": "escalation", "escalation": "legal", "channel": None}  # null or absent: no channel
    stdin = b"\n".join(
        [
            line("advice", now="2026-12-10T10:00:00Z", debtor=eu, request={"template_tags": ["debt_advice"]}),
            line("no-advice", now="2026-12-10T10:00:00Z", debtor=eu),
            line("wait", now="2026-12-10T10:00:00Z", debtor=eu, request=legal, history=[offer]),
            line("none", now="2026-12-10T10:00:00Z", debtor=eu, request={**legal, "escalation": "agency"}),
            line(
                "visit",
                now="2026-12-10T23:00:00Z",
                debtor={**eu, "flags": ["cease_communication"]},
                request={**legal, "escalation": "field_visit"},
            ),
        ]
    )
    advice, no_advice, wait, none, visit = run(stdin)[0]
    assert (advice["decision"], advice["pack_versions"]) == ("allow", {"BANK": "2026.1", "EU": "2026.1"})
    assert (no_advice["decision"], no_advice["reasons"]) == ("block", ["DEBT_ADVICE_REQUIRED"])
    assert (wait["decision"], wait["not_before"], wait["reasons"]) == (
        "defer",
        "2026-12-15T09:00:00Z",
        ["FORBEARANCE_REQUIRED"],
    )
    assert (none["decision"], none["rules"]) == ("block", ["EU:forbearance_before_enforcement"])
    assert (visit["decision"], visit["reasons"]) == ("block", ["CEASE_COMMUNICATION"])


def test_bad_new_fields_are_error_lines() -> None:
    stdin = b"\n".join(
        [
            line(1, request={"kind": "escalation", "escalation": "legal"}),
            line(2, request={"destination": {"relation": "neighbour"}}),
            line(3, request={"template_tags": ["friendly"]}),
            line(4, request={"kind": "escalation", "escalation": "bankruptcy_review"}),
            line(
                5,
                history=[
                    {
                        "kind": "escalation",
                        "escalation": "legal",
                        "account_id": "a1",
                        "at": "2026-06-01T00:00:00",
                    }
                ],
            ),
        ]
    )
    errors = [out["error"] for out in run(stdin)[0]]
    assert errors[0] == "request: Value error, an escalation has no channel and no destination"
    assert errors[1].startswith("request.destination.relation: Input should be 'self', 'guarantor'")
    assert errors[2].startswith("request.template_tags[0]: Input should be 'limited_content'")
    assert "escalation 'bankruptcy_review' is not decided by the gatekeeper" in errors[3]
    assert errors[4] == "history[0].at: Input should have timezone info; history[0].decision: Field required"


# 22:30 in New York: inside the BANK pack's quiet hours (contact 08:00-21:00 only).
US_AT_NIGHT = line("night", now="2026-06-11T02:30:00Z", debtor={"jurisdictions": ["US"]})


def test_a_policies_folder_without_the_bank_pack_is_refused_before_any_decision(tmp_path: Path) -> None:
    folder = copy_packs(tmp_path / "policies", without="bank.toml")
    outputs, stderr, code = run(US_AT_NIGHT + b"\n", "--policies", str(folder))
    assert (outputs, code) == ([], 2)
    assert stderr.strip() == (
        f"decide: {folder}: no BANK pack (bank.toml): it holds the contact hours every debtor gets, "
        "and no decision is made without it"
    )


def test_decide_reads_the_gatekeepers_policies_setting_and_the_option_overrides_it(tmp_path: Path) -> None:
    without_bank = copy_packs(tmp_path / "without-bank", without="bank.toml")
    outputs, stderr, code = run(US_AT_NIGHT + b"\n", env={"GATEKEEPER_POLICIES": str(without_bank)})
    assert (outputs, code) == ([], 2) and "no BANK pack" in stderr

    later = copy_packs(tmp_path / "later", edit=('version = "2026.1"', 'version = "2026.1-late"'))
    [out] = run(US_AT_NIGHT + b"\n", env={"GATEKEEPER_POLICIES": str(later)})[0]
    assert (out["decision"], out["reasons"]) == ("defer", ["QUIET_HOURS"])
    assert out["pack_versions"] == {"BANK": "2026.1-late", "US": "2026.1"}

    [out] = run(
        US_AT_NIGHT + b"\n", "--policies", str(DEFAULT_POLICIES), env={"GATEKEEPER_POLICIES": str(later)}
    )[0]
    assert out["pack_versions"] == {"BANK": "2026.1", "US": "2026.1"}
