"""What an inbound SMS asks for: opt out, opt back in, help, or nothing we act on.

The policy, as a compliance reviewer signs it off:

- Regulation F 1006.6(e) and the TCPA let a consumer revoke consent by any reasonable means, and the FCC's
  2024 order names stop, quit, end, revoke, opt out, cancel and unsubscribe as reasonable on their own. A
  missed opt-out keeps contacting someone who said no (the dangerous error); a wrong one costs a contact
  channel (the safe one). So when in doubt the answer is opt-out.
- The text is read as a phone shows it (``normalize``): width, case, invisible characters (zero-width space,
  soft hyphen, bidi marks), look-alike letters from other scripts, accents and punctuation do not matter.
- A message opts out when, after normalization:
  1. the whole of it is an opt-out keyword of any language, with or without filler ("STOP please"; a stop
     sign 🛑 or no-entry sign counts as the word stop);
  2. an opt-out phrase matches anywhere in it ("cancel my texts", "no me escriban", "不要再发");
  3. a word that revokes wherever it stands ("stop", "unsubscribe", "baja", "退订") appears outside the listed
     innocent senses of it ("stop by the branch", "cancelar la deuda" = pay it off, "estoy de baja" = on sick
     leave); an innocent sense excuses only its own words, never the rest of the message;
  4. one of its clauses (between . ! ? , ; or line breaks) is an opt-out keyword ("I paid. END").
  Words with an everyday meaning (end, alto, fin, 取消) revoke only as a whole message or clause. The carrier
  words tolerate small typos (stopp, stoop, unsubscibe, st0p) with rules tight enough to leave ordinary words
  alone (spot, cancer, quite).
- Opt-in and help count only as the whole message, without typo tolerance: wrongly opting back in is the
  dangerous direction there, and "can you help me with a plan" is a question for an agent, not a keyword.
- Not opt-outs: replies about paying, fees, dates and branches ("I'll pay Friday", "can I stop the late fee"),
  a bare "no" (it answers a question) and "who is this?" (a question, not a revocation). Accepted as opt-outs
  although probably not meant so: "the fee won't stop", "I have no messages", "I quit".

Every language is applied to every message, since the SMS carries only a number and a debtor may answer in
any language. The words and patterns are data, one file per language (``deploy/optout/<language>.toml``),
validated when loaded; a bad file fails the start naming the file and the field.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from services.core.settings import DEPLOY_DIR, ConfigError, load_toml
from services.webhooks.lookalikes import to_latin

DEFAULT_DIRECTORY = DEPLOY_DIR / "optout"


class Intent(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    OTHER = "other"


class Rule(StrEnum):
    """Which step of the policy decided, for tests and logs (a small fixed set, usable as a metric label)."""

    KEYWORD = "keyword"
    PHRASE = "phrase"
    WORD = "word"
    CLAUSE = "clause"
    NONE = "none"


@dataclass(frozen=True)
class Match:
    intent: Intent
    rule: Rule


# Invisible characters that are not format characters (Cf): grapheme joiner, variation selectors, Hangul
# fillers. Each can hide inside a keyword just like a zero-width space.
_INVISIBLE = re.compile("[\u034f\u115f\u1160\u3164\uffa0\ufe00-\ufe0f\U000e0100-\U000e01ef]")
_APOSTROPHES = str.maketrans("", "", "'’‘ʼ`´")  # "don't" and "dont" are the same reply
_EDGES = re.compile(r"^[\W_]+|[\W_]+$")


def normalize(body: str) -> str:
    """The message as a reader sees it: NFKC, without invisible characters, look-alike letters read as
    Latin, case-folded, without apostrophes, single-spaced and without surrounding punctuation."""
    text = unicodedata.normalize("NFKC", body)
    text = _INVISIBLE.sub("", "".join(char for char in text if unicodedata.category(char) != "Cf"))
    text = to_latin(text).casefold().translate(_APOSTROPHES)
    return " ".join(_EDGES.sub("", text).split())


def _fold(text: str) -> str:
    """Without accents: "envíen" and "envien" are the same reply, and a phone may not offer the accent."""
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed if unicodedata.category(c) != "Mn"))


# Latin and other scripts form separate tokens, so "回复td" holds the token "td".
_TOKENS = re.compile(r"[a-z0-9]+|[^\W_a-z0-9]+")
_CLAUSE_BREAKS = re.compile(r"[.!?;:,¡¿。、]+")
# "S T O P", "s.t.o.p": three or more single letters in a row are one word.
_SPELLED = re.compile(r"(?<![a-z0-9])(?:[a-z][ .*_-]+){2,}[a-z](?![a-z0-9])")
_SPELLING_GAPS = re.compile(r"[ .*_-]+")
# A stop sign or no-entry sign sent on its own is as plain a revocation as the word.
_STOP_SIGNS = str.maketrans(dict.fromkeys("\U0001f6d1\u26d4\U0001f6ab", " stop "))


def _words(text: str) -> str:
    return " ".join(_TOKENS.findall(text))


def _word(value: str) -> str:
    words = _words(_fold(normalize(value)))
    if not words:
        raise ValueError(f"{value!r} has no letters left after normalization")
    return words


def _pattern(value: str) -> str:
    pattern = _fold(unicodedata.normalize("NFKC", value))
    literal = re.sub(r"\\.|\(\?P", "", pattern)
    if literal != literal.lower():
        raise ValueError("patterns are matched on lower-case text: write them in lower case")
    if any(mark in literal for mark in "'’"):
        raise ValueError("patterns see words without apostrophes: write dont, not don't")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from exc
    if compiled.match("") is not None:
        raise ValueError("the pattern matches the empty text, so it would match every message")
    # All patterns are joined into one expression, where a group name or number would mean another group.
    if compiled.groupindex or re.search(r"\\[1-9]|\(\?P=", pattern):
        raise ValueError("named groups and back-references are not allowed: the patterns are joined into one")
    return pattern


def _typo_word(value: str) -> str:
    word = _word(value)
    if not re.fullmatch(r"[a-z]{3,}", word):
        raise ValueError(f"{value!r}: typo tolerance is for single Latin words of three letters or more")
    return word


Word = Annotated[str, AfterValidator(_word)]
Pattern = Annotated[str, AfterValidator(_pattern)]
TypoWord = Annotated[str, AfterValidator(_typo_word)]


class KeywordFile(BaseModel):
    """One language's words, as written in ``deploy/optout/<language>.toml`` (see its header)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    language: Annotated[str, Field(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")]
    opt_out: Annotated[tuple[Word, ...], Field(min_length=1)]
    opt_in: tuple[Word, ...] = ()
    help: tuple[Word, ...] = ()
    filler: tuple[Word, ...] = ()
    revoke_anywhere: tuple[Word, ...] = ()
    phrases: tuple[Pattern, ...] = ()
    innocent: tuple[Pattern, ...] = ()
    typo_tolerant: tuple[TypoWord, ...] = ()


def _squeeze(word: str) -> str:
    return re.sub(r"(.)\1+", r"\1", word)


def _edit(token: str, word: str) -> str | None:
    """The one edit that turns ``word`` into ``token``, or None if it takes none or more than one."""
    if len(token) == len(word):
        diffs = [i for i, (a, b) in enumerate(zip(token, word, strict=True)) if a != b]
        if len(diffs) == 1:
            return "substitute"
        if len(diffs) == 2 and diffs[1] == diffs[0] + 1 and token[diffs[0]] == word[diffs[1]]:
            return "transpose" if token[diffs[1]] == word[diffs[0]] else None
        return None
    if len(token) == len(word) - 1:
        return "delete" if any(word[:i] + word[i + 1 :] == token for i in range(len(word))) else None
    if len(token) == len(word) + 1:
        return "insert" if any(token[:i] + token[i + 1 :] == word for i in range(len(token))) else None
    return None


def _near(token: str, word: str) -> bool:
    """Whether ``token`` is a typo of the carrier word ``word``.

    Repeated letters never matter (stopp, stoop). Beyond that the allowance grows with the word, since a
    short word is one edit away from many ordinary ones: swapped neighbours from four letters (sotp, but not
    spot), a missing letter from six (cancl, unsubscibe), any single edit from nine (unsubscrive,
    unsubscribed).
    """
    if "0" in token and not token.isdigit():
        token = token.replace("0", "o")
    token, squeezed = _squeeze(token), _squeeze(word)
    if token == squeezed:
        return True
    allowed = {"transpose"} if len(word) >= 4 else set()
    if len(word) >= 6:
        allowed.add("delete")
    if len(word) >= 9:
        allowed |= {"insert", "substitute"}
    return _edit(token, squeezed) in allowed


def _either(patterns: Iterable[str]) -> re.Pattern[str]:
    # Boundaries against Latin letters and digits only: Chinese words sit inside a token, unspaced.
    alternatives = "|".join(f"(?:{p})" for p in sorted(set(patterns), key=len, reverse=True))
    return re.compile(f"(?<![a-z0-9])(?:{alternatives})(?![a-z0-9])" if alternatives else r"(?!)")


class Matcher:
    """Every language's keyword file merged into one classifier, built once at start-up."""

    def __init__(self, files: Sequence[tuple[str, KeywordFile]]) -> None:
        _check(files)
        self._keywords = {
            Intent.OPT_OUT: frozenset(w for _, f in files for w in f.opt_out),
            Intent.OPT_IN: frozenset(w for _, f in files for w in f.opt_in),
            Intent.HELP: frozenset(w for _, f in files for w in f.help),
        }
        self._filler = sorted({w for _, f in files for w in f.filler}, key=len, reverse=True)
        self._phrases = _either(p for _, f in files for p in f.phrases)
        self._anywhere = _either(re.escape(w) for _, f in files for w in f.revoke_anywhere)
        self._innocent = _either(p for _, f in files for p in f.innocent)
        self._typo_words = tuple(sorted({w for _, f in files for w in f.typo_tolerant}))
        self._vocabulary = frozenset(
            token
            for _, f in files
            for words in (f.opt_out, f.opt_in, f.help, f.filler, f.revoke_anywhere)
            for word in words
            for token in word.split()
        )

    @classmethod
    def load(cls, directory: Path) -> Matcher:
        """Read every ``*.toml`` in ``directory``; a bad file raises ``ConfigError`` naming file and field."""
        paths = sorted(directory.glob("*.toml")) if directory.is_dir() else []
        if not paths:
            raise ConfigError(f"{directory}: no opt-out keyword files (*.toml)")
        files = []
        for path in paths:
            data = load_toml(path, KeywordFile)
            if data.language != path.stem:
                raise ConfigError(f"{path}: language: {data.language!r} differs from the file name")
            files.append((str(path), data))
        return cls(files)

    def classify(self, body: str) -> Intent:
        return self.match(body).intent

    def match(self, body: str) -> Match:
        clauses = [clause for clause in self._clauses(body) if clause]
        whole = " ".join(clauses)
        if not whole:
            return Match(Intent.OTHER, Rule.NONE)
        bare = self._bare(whole)
        for intent, words in self._keywords.items():
            if whole in words or bare in words:
                return Match(intent, Rule.KEYWORD)
        if self._phrases.search(whole):
            return Match(Intent.OPT_OUT, Rule.PHRASE)
        if self._anywhere.search(self._innocent.sub(" ", whole)):
            return Match(Intent.OPT_OUT, Rule.WORD)
        opt_out = self._keywords[Intent.OPT_OUT]
        if len(clauses) > 1 and any(self._bare(self._innocent.sub(" ", c)) in opt_out for c in clauses):
            return Match(Intent.OPT_OUT, Rule.CLAUSE)
        return Match(Intent.OTHER, Rule.NONE)

    def _clauses(self, body: str) -> list[str]:
        clauses = []
        for line in body.translate(_STOP_SIGNS).splitlines():
            text = _SPELLED.sub(lambda m: _SPELLING_GAPS.sub("", m[0]), _fold(normalize(line)))
            for clause in _CLAUSE_BREAKS.split(text):
                clauses.append(" ".join(self._canonical(token) for token in _TOKENS.findall(clause)))
        return clauses

    def _canonical(self, token: str) -> str:
        if token in self._vocabulary or not token.isascii():
            return token
        return next((word for word in self._typo_words if _near(token, word)), token)

    def _bare(self, text: str) -> str:
        """``text`` without filler words at either end and without a repeated word ("stop stop")."""
        previous = None
        while text != previous:
            previous = text
            for filler in self._filler:
                text = _strip(text, filler)
        tokens = text.split()
        return " ".join(t for i, t in enumerate(tokens) if i == 0 or t != tokens[i - 1])


def _strip(text: str, filler: str) -> str:
    # Chinese filler is not spaced off: 请 in 请取消, 了 in 取消了.
    gap = " " if filler.isascii() else ""
    if text == filler:
        return ""
    if text.startswith(filler + gap):
        return text[len(filler) + len(gap) :].strip()
    if text.endswith(gap + filler):
        return text[: -len(filler) - len(gap)].strip()
    return text


def _check(files: Sequence[tuple[str, KeywordFile]]) -> None:
    """What no single file can see: one word with two intents; and typo rules that could never fire."""
    owner: dict[str, tuple[str, str]] = {}
    for source, data in files:
        for field in ("opt_out", "opt_in", "help"):
            for index, word in enumerate(getattr(data, field)):
                other = owner.setdefault(word, (source, field))
                if other[1] != field:
                    raise ConfigError(
                        f"{source}: {field}[{index}]: {word!r} is already in {other[1]} of {other[0]}"
                    )
        for index, word in enumerate(data.typo_tolerant):
            if word not in data.opt_out and word not in data.revoke_anywhere:
                raise ConfigError(
                    f"{source}: typo_tolerant[{index}]: {word!r} is in neither opt_out nor revoke_anywhere"
                )


@cache
def default_matcher() -> Matcher:
    """The matcher of the keyword files shipped in ``deploy/optout``, loaded on first use."""
    return Matcher.load(DEFAULT_DIRECTORY)


def classify(body: str) -> Intent:
    return default_matcher().classify(body)
