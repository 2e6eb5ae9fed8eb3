"""The bootstrap command's seeds: each listed loan as a record the adapter learns exactly as listed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from services.fineract.encode import Encoder, record_key
from services.fineract.settings import FineractSettings
from services.fineract.state import seed_from_listing
from services.fineract.translate import Ignored, Translated, decode_message, translate
from tests.unit.fineract.test_state import LISTING

REPO_ROOT = Path(__file__).resolve().parents[3]
NOW = datetime(2024, 10, 24, 10, 0, tzinfo=UTC)


def test_a_seed_teaches_the_loan_as_listed_and_only_when_not_known() -> None:
    seed = seed_from_listing(json.dumps(LISTING))
    encoder = Encoder(tenant="default")
    for loan_id, listed in seed.loans.items():
        record = encoder.seed(listed, NOW)
        assert record.key == record_key(loan_id)  # the partition of the loan's own records
        result = translate(record.value, {}, FineractSettings(), NOW)
        assert isinstance(result, Translated) and result.changed == {loan_id: listed}
        assert translate(record.value, {loan_id: listed}, FineractSettings(), NOW) == Ignored("already_known")


def test_seeding_the_same_listing_twice_is_one_seed() -> None:
    listed = seed_from_listing(json.dumps(LISTING)).loans[42]
    first, again = (decode_message(Encoder().seed(listed, at).value) for at in (NOW, NOW.replace(hour=11)))
    assert first.created_at != again.created_at
    assert first.idempotency_key == again.idempotency_key  # which the adapter applies once


def test_dry_run_reads_every_page_and_says_what_it_skipped(tmp_path: Path) -> None:
    page = tmp_path / "loans-0.json"
    page.write_text(json.dumps(LISTING))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FINERACT_ADAPTER_", "COLLECTIONS_"))}
    done = subprocess.run(
        [sys.executable, "-m", "services.fineract", "bootstrap", str(page), "--dry-run"],
        capture_output=True,
        cwd=REPO_ROOT,
        env={**env, "PYTHONPATH": str(REPO_ROOT)},
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().strip() == "2 loans read, 2 items skipped"
    bad = subprocess.run(
        [sys.executable, "-m", "services.fineract", "bootstrap", str(tmp_path / "missing.json")],
        capture_output=True,
        cwd=REPO_ROOT,
        env={**env, "PYTHONPATH": str(REPO_ROOT)},
        timeout=120,
        check=False,
    )
    assert bad.returncode == 2 and len(bad.stderr.splitlines()) == 1 and b"missing.json" in bad.stderr
