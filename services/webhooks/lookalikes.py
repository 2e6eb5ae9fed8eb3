"""Letters of other scripts that look like Latin letters, so that a reply such as ``SТОР`` typed with Cyrillic
Т, О and Р reads as the ``stop`` it shows on the screen.

A small explicit table, named by Unicode character names so a reviewer can see what each entry is. The
maintained PyPI packages were weighed and not taken: confusable-homoglyphs (3.3.1, January 2024) detects
look-alikes but gives no Latin reading to match on, and decancer-py (a native binding) rewrites whole strings,
Chinese included, by rules this project cannot review. Letters NFKC already folds (full-width, mathematical
and circled letters) are not listed.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

# Latin reading -> characters read as it. Small capitals are listed because "small caps" text generators
# produce them, and lower-case Cyrillic т, к, м because they are how a spoofed capital looks once typed on a
# Cyrillic keyboard in lower case.
_READINGS: dict[str, tuple[str, ...]] = {
    "a": ("CYRILLIC CAPITAL LETTER A", "CYRILLIC SMALL LETTER A", "GREEK CAPITAL LETTER ALPHA",
          "GREEK SMALL LETTER ALPHA", "LATIN LETTER SMALL CAPITAL A", "LATIN SMALL LETTER ALPHA"),
    "b": ("CYRILLIC CAPITAL LETTER VE", "GREEK CAPITAL LETTER BETA", "LATIN LETTER SMALL CAPITAL B"),
    "c": ("CYRILLIC CAPITAL LETTER ES", "CYRILLIC SMALL LETTER ES", "GREEK CAPITAL LUNATE SIGMA SYMBOL",
          "GREEK LUNATE SIGMA SYMBOL", "LATIN LETTER SMALL CAPITAL C"),
    "d": ("CYRILLIC SMALL LETTER KOMI DE", "LATIN LETTER SMALL CAPITAL D"),
    "e": ("CYRILLIC CAPITAL LETTER IE", "CYRILLIC SMALL LETTER IE", "GREEK CAPITAL LETTER EPSILON",
          "LATIN LETTER SMALL CAPITAL E"),
    "f": ("LATIN LETTER SMALL CAPITAL F",),
    "g": ("LATIN SMALL LETTER SCRIPT G", "LATIN LETTER SMALL CAPITAL G"),
    "h": ("CYRILLIC CAPITAL LETTER EN", "CYRILLIC SMALL LETTER SHHA", "GREEK CAPITAL LETTER ETA",
          "LATIN LETTER SMALL CAPITAL H"),
    "i": ("CYRILLIC CAPITAL LETTER BYELORUSSIAN-UKRAINIAN I",
          "CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I", "CYRILLIC LETTER PALOCHKA",
          "GREEK CAPITAL LETTER IOTA", "GREEK SMALL LETTER IOTA",
          "LATIN SMALL LETTER DOTLESS I", "LATIN LETTER SMALL CAPITAL I"),
    "j": ("CYRILLIC CAPITAL LETTER JE", "CYRILLIC SMALL LETTER JE", "GREEK LETTER YOT",
          "LATIN SMALL LETTER DOTLESS J", "LATIN LETTER SMALL CAPITAL J"),
    "k": ("CYRILLIC CAPITAL LETTER KA", "CYRILLIC SMALL LETTER KA", "GREEK CAPITAL LETTER KAPPA",
          "GREEK SMALL LETTER KAPPA", "LATIN LETTER SMALL CAPITAL K"),
    "l": ("CYRILLIC SMALL LETTER PALOCHKA", "LATIN LETTER SMALL CAPITAL L"),
    "m": ("CYRILLIC CAPITAL LETTER EM", "CYRILLIC SMALL LETTER EM", "GREEK CAPITAL LETTER MU",
          "LATIN LETTER SMALL CAPITAL M"),
    "n": ("GREEK CAPITAL LETTER NU", "LATIN LETTER SMALL CAPITAL N"),
    "o": ("CYRILLIC CAPITAL LETTER O", "CYRILLIC SMALL LETTER O", "GREEK CAPITAL LETTER OMICRON",
          "GREEK SMALL LETTER OMICRON", "ARMENIAN SMALL LETTER OH", "LATIN LETTER SMALL CAPITAL O"),
    "p": ("CYRILLIC CAPITAL LETTER ER", "CYRILLIC SMALL LETTER ER", "GREEK CAPITAL LETTER RHO",
          "GREEK SMALL LETTER RHO", "LATIN LETTER SMALL CAPITAL P"),
    "q": ("CYRILLIC CAPITAL LETTER QA", "CYRILLIC SMALL LETTER QA"),
    "r": ("LATIN LETTER SMALL CAPITAL R",),
    "s": ("CYRILLIC CAPITAL LETTER DZE", "CYRILLIC SMALL LETTER DZE", "LATIN LETTER SMALL CAPITAL S"),
    "t": ("CYRILLIC CAPITAL LETTER TE", "CYRILLIC SMALL LETTER TE", "GREEK CAPITAL LETTER TAU",
          "GREEK SMALL LETTER TAU", "LATIN LETTER SMALL CAPITAL T"),
    "u": ("GREEK SMALL LETTER UPSILON", "ARMENIAN SMALL LETTER SEH", "LATIN LETTER SMALL CAPITAL U"),
    "v": ("GREEK SMALL LETTER NU", "LATIN LETTER SMALL CAPITAL V"),
    "w": ("CYRILLIC CAPITAL LETTER WE", "CYRILLIC SMALL LETTER WE", "LATIN LETTER SMALL CAPITAL W"),
    "x": ("CYRILLIC CAPITAL LETTER HA", "CYRILLIC SMALL LETTER HA", "GREEK CAPITAL LETTER CHI",
          "GREEK SMALL LETTER CHI"),
    "y": ("CYRILLIC CAPITAL LETTER U", "CYRILLIC SMALL LETTER U", "CYRILLIC CAPITAL LETTER STRAIGHT U",
          "GREEK CAPITAL LETTER UPSILON", "LATIN LETTER SMALL CAPITAL Y"),
    "z": ("GREEK CAPITAL LETTER ZETA", "LATIN LETTER SMALL CAPITAL Z"),
}  # fmt: skip

LOOKALIKES: dict[str, str] = {
    unicodedata.lookup(name): latin for latin, names in _READINGS.items() for name in names
}
_TABLE = str.maketrans(LOOKALIKES)
_LETTERS = re.compile(r"[^\W\d_]+")
# Scripts that have look-alikes: a letter of one of them that is not in the table is a real word's letter.
_ALPHABETS = ("CYRILLIC ", "GREEK ", "ARMENIAN ")


@cache
def _foreign(char: str) -> bool:
    return char not in LOOKALIKES and unicodedata.name(char, "").startswith(_ALPHABETS)


def _read(match: re.Match[str]) -> str:
    word = match[0]
    if word.isascii() or any(_foreign(char) for char in word):
        return word
    return word.translate(_TABLE)


def to_latin(text: str) -> str:
    """Each word written only with Latin letters and look-alikes, in its Latin reading.

    A word with a Cyrillic, Greek or Armenian letter that has no Latin look-alike is left alone: ``СТОП`` is
    Russian, not a disguised Latin word, and a future Russian keyword file can still match it.
    """
    return _LETTERS.sub(_read, text)
