"""The benchmark report's arithmetic on hand-made figures: signing as a share of the baseline's CPU per
approval, and security on against off stage by stage."""

from __future__ import annotations

from devtools.bench_kafka import Drain
from devtools.bench_report import Report


def report(cpu_seconds: float, events_per_s: float) -> Report:
    made = Report(sizes={})
    made.add_baseline("requests", Drain(1000, 0.0, 1.0), {"bench": 0.05})
    made.add_baseline("approvals", Drain(1000, 0.0, 1.0), {"bench": 0.04})
    seconds = 1000 / events_per_s
    made.stage(
        "gatekeeper",
        Drain(1000, 0.0, seconds),
        "requests",
        cpu={"gatekeeper": cpu_seconds},
        roles=["gatekeeper"],
    )
    return made


def test_signing_is_given_per_approval_and_as_a_share_of_the_baseline() -> None:
    made = report(0.5, 800)
    made.add_signing(2000, sign_cpu=0.1, verify_cpu=0.2)
    assert made.signing == {
        "approvals": 2000,
        "sign_us_per_approval": 50.0,
        "verify_us_per_approval": 100.0,
        "sign_share_of_baseline": 1.25,  # 50 us against the baseline's 40 us per approval
        "verify_share_of_baseline": 2.5,
    }
    assert "sign one approval (Ed25519)" in made.table()


def test_security_on_against_off_in_the_same_run() -> None:
    on, off = report(0.6, 800), report(0.5, 1000)
    on.compare_security(off)
    row = on.as_json()["security"]["stages"]["gatekeeper"]
    assert row["cpu_us_per_event"] == {"on": 600.0, "off": 500.0}
    assert row["events_per_s"] == {"on": 800.0, "off": 1000.0}
    assert (row["cpu_on_to_off"], row["rate_off_to_on"]) == (1.2, 1.25)
    assert on.as_json()["security"]["without"]["stages"]["gatekeeper"]["events_per_s"] == 1000.0
    assert "security on / off, same run" in on.table()
