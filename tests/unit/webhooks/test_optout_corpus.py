"""The labelled replies of tests/unit/webhooks/corpus, one file per language, through the shipped keyword
files: a table of missed opt-outs (the dangerous error) and false opt-outs (the costly one) per language, and
no error of either kind, nor any other wrong intent, allowed."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from services.webhooks.keywords import Intent, Match, default_matcher

CORPUS = Path(__file__).parent / "corpus"
LANGUAGES = ("en", "es", "zh-Hans", "zh-Hant")


class Corpus(BaseModel):
    model_config = ConfigDict(extra="forbid")

    opt_out: list[str]
    other: list[str]
    opt_in: list[str] = []
    help: list[str] = []

    def cases(self) -> list[tuple[str, Intent]]:
        return [(text, Intent(intent)) for intent in Intent for text in getattr(self, intent.value)]


@dataclass
class Tally:
    opt_outs: int = 0
    others: int = 0
    missed: list[tuple[str, Match]] = field(default_factory=list)
    false: list[tuple[str, Match]] = field(default_factory=list)
    wrong: list[tuple[str, Intent, Match]] = field(default_factory=list)


def tally(corpus: Corpus) -> Tally:
    matcher = default_matcher()
    result = Tally()
    for text, expected in corpus.cases():
        got = matcher.match(text)
        if expected is Intent.OPT_OUT:
            result.opt_outs += 1
            if got.intent is not Intent.OPT_OUT:
                result.missed.append((text, got))
        else:
            result.others += 1
            if got.intent is Intent.OPT_OUT:
                result.false.append((text, got))
            elif got.intent is not expected:
                result.wrong.append((text, expected, got))
    return result


def test_corpus_has_no_missed_and_no_false_opt_outs(capsys: pytest.CaptureFixture[str]) -> None:
    tallies = {}
    for language in LANGUAGES:
        corpus = Corpus.model_validate(
            tomllib.loads((CORPUS / f"{language}.toml").read_text(encoding="utf-8"))
        )
        tallies[language] = tally(corpus)
    lines = [f"{'language':<9} {'opt-outs':>8} {'others':>7} {'missed':>7} {'false':>6} {'wrong':>6}"]
    for language, t in tallies.items():
        counts = f"{len(t.missed):>7} {len(t.false):>6} {len(t.wrong):>6}"
        lines.append(f"{language:<9} {t.opt_outs:>8} {t.others:>7} {counts}")
    with capsys.disabled():
        print("\nopt-out corpus (missed: opt-outs read as something else; false: others read as opt-outs)")
        print("\n".join(lines))
    problems = [
        f"{language}: {kind} {text!r} -> {got.intent.value} ({got.rule.value})"
        for language, t in tallies.items()
        for kind, cases in (("missed opt-out", t.missed), ("false opt-out", t.false))
        for text, got in cases
    ]
    problems += [
        f"{language}: expected {expected.value}, got {got.intent.value} for {text!r}"
        for language, t in tallies.items()
        for text, expected, got in t.wrong
    ]
    assert not problems, "\n".join(problems)


def test_corpus_covers_the_agreed_sizes() -> None:
    minimum = {"en": (40, 25), "es": (40, 25), "zh-Hans": (15, 10), "zh-Hant": (15, 10)}
    for language, (opt_outs, others) in minimum.items():
        corpus = Corpus.model_validate(
            tomllib.loads((CORPUS / f"{language}.toml").read_text(encoding="utf-8"))
        )
        assert len(corpus.opt_out) >= opt_outs, language
        assert len(corpus.other) + len(corpus.opt_in) + len(corpus.help) >= others, language
