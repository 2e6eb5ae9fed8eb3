"""The simulated population speaks each region's language, and the templates serve it in that locale."""

from __future__ import annotations

from collections import Counter
from datetime import date

from schemas.vocab import Channel
from services.core.settings import DEPLOY_DIR
from services.messaging.templates import TemplateBook
from services.simulator.population import generate
from tests.channels_support import VARIABLES

BOOK = TemplateBook.load(DEPLOY_DIR / "templates")


def test_uk_debtors_get_british_english_and_each_region_its_own_locale() -> None:
    debtors = generate(11, 600, date(2026, 12, 1))
    served: Counter[tuple[str, str, str]] = Counter()
    for debtor in debtors:
        profile = debtor.profile()
        served[(",".join(profile.jurisdictions), profile.language, BOOK.locale(profile.language))] += 1
    by_jurisdiction = {jurisdictions: (language, locale) for jurisdictions, language, locale in served}
    assert by_jurisdiction["GB"] == ("en-GB", "en-GB")
    assert by_jurisdiction["EU"] == ("en-IE", "en-GB")
    assert by_jurisdiction["US"] == ("en-US", "en-US")
    assert by_jurisdiction["CN"] == ("zh-CN", "zh-CN")
    assert {debtor.loans[0].currency for debtor in debtors if debtor.region.jurisdictions == ("GB",)} == {
        "GBP"
    }


def test_a_uk_debtors_reminder_is_rendered_in_en_gb() -> None:
    debtor = next(d for d in generate(11, 200, date(2026, 12, 1)) if d.region.jurisdictions == ("GB",))
    variables = {
        **VARIABLES,
        "name": debtor.name,
        "company": "Example Bank",
        "callback_number": "+448005550199",
    }
    rendered = BOOK.render(Channel.VOICE, "call", debtor.profile().language, variables)
    assert rendered.locale == "en-GB"
    assert "organisation" in rendered.parts["menu"] and "adviser" in rendered.parts["menu"]
    assert "return our call on" in rendered.parts["voicemail"]
