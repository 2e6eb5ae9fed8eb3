"""How many SMS segments a body takes: GSM-7 (160 single, 153 per part) or UCS-2 (70 single, 67 per part).

One implementation for the Twilio sandbox and the SMS worker, so the cost a worker estimates before sending
and the segments the sandbox bills always agree."""

from __future__ import annotations

import regex

# GSM 03.38 default alphabet, without the escape code itself.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: each of these is sent as escape + char, so it costs two septets.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")
GSM7_SINGLE, GSM7_PART = 160, 153  # septets
UCS2_SINGLE, UCS2_PART = 70, 67  # UTF-16 code units

# An extended grapheme cluster (Unicode UAX #29): what a reader sees as one character, such as an emoji
# with its skin tone, a ZWJ family, a flag (two regional indicators) or a keycap.
_GRAPHEME = regex.compile(r"\X")


def is_gsm7(body: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in body)


def count_segments(body: str) -> int:
    """Segments as Twilio counts them: an escape pair is never split across parts, and neither is a
    grapheme cluster (so never a surrogate pair), unless the cluster alone is longer than a part."""
    if is_gsm7(body):
        units = [2 if ch in GSM7_EXTENSION else 1 for ch in body]
        single, per_part = GSM7_SINGLE, GSM7_PART
    else:
        units = _ucs2_units(body)
        single, per_part = UCS2_SINGLE, UCS2_PART
    if sum(units) <= single:
        return 1
    parts, used = 1, 0
    for unit in units:
        if used + unit > per_part:
            parts += 1
            used = 0
        used += unit
    return parts


def _ucs2_units(body: str) -> list[int]:
    """UTF-16 code units of each piece that must stay within one part: its grapheme clusters, or the code
    points of a cluster too long for any part."""
    units = []
    for cluster in _GRAPHEME.findall(body):
        size = _utf16_units(cluster)
        if size <= UCS2_PART:
            units.append(size)
        else:
            units.extend(_utf16_units(ch) for ch in cluster)
    return units


def _utf16_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2
