"""``collections publish --dry-run`` over the shared table of inbound samples: each line gets the verdict the
table gives, in the command's own words on stderr (the consumers' side of the table runs in the integration
tier, tests/integration/test_inbound_table.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import orjson

from schemas.events import DebtorProfileUpdated
from schemas.values import EDGE
from services.core.clock import write_stepped
from services.simulator.population import generate
from tests.inbound_cases import CASES, NOW

COLLECTIONS = str(Path(sys.executable).parent / "collections")


def test_publish_dry_run_gives_every_sample_its_verdict(tmp_path: Path) -> None:
    lines = tmp_path / "events.jsonl"
    lines.write_bytes(b"\n".join(orjson.dumps(case.line(f"d-{n}")) for n, case in enumerate(CASES)) + b"\n")
    clock = tmp_path / "clock.json"
    write_stepped(clock, NOW)
    env = {**os.environ, "COLLECTIONS_CLOCK": f"file:{clock}"}
    done = subprocess.run(
        [COLLECTIONS, "publish", "--dry-run", str(lines)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    refused = {int(m[1]): m[2] for m in re.finditer(r"^line (\d+): (.*)$", done.stderr, re.MULTILINE)}
    verdicts = {case.name: refused.get(n) for n, case in enumerate(CASES, start=1)}
    for case in CASES:
        got = verdicts[case.name]
        if case.publish is None:
            assert got is None, f"{case.name}: refused ({got})"
        else:
            assert got is not None and case.publish in got, f"{case.name}: {got!r}"
    good = sum(case.publish is None for case in CASES)
    assert done.stdout.strip().splitlines()[-1] == f"{good} valid, {len(CASES) - good} rejected"
    assert done.returncode == 1
    assert "Traceback" not in done.stderr


def test_the_shipped_samples_pass_the_edge() -> None:
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "collections"),
            "publish",
            "--dry-run",
            "deploy/samples/events.jsonl",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.strip().endswith(" valid, 0 rejected")


def test_the_simulated_population_passes_the_edge() -> None:
    for debtor in generate(7, 3000, date(2026, 6, 1)):
        DebtorProfileUpdated.model_validate(debtor.profile().model_dump(mode="json"), context={EDGE: True})
