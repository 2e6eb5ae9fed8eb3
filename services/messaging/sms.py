"""How many SMS segments a body takes: GSM-7 (160 single, 153 per part) or UCS-2 (70 single, 67 per part).

One implementation for the Twilio sandbox and the SMS worker, so the cost a worker reports and the
segments the sandbox bills always agree."""

from __future__ import annotations

# GSM 03.38 default alphabet, without the escape code itself.
GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: each of these is sent as escape + char, so it costs two septets.
GSM7_EXTENSION = frozenset("\f^{}\\[~]|€")


def is_gsm7(body: str) -> bool:
    return all(ch in GSM7_BASIC or ch in GSM7_EXTENSION for ch in body)


def count_segments(body: str) -> int:
    """Segments as a carrier counts them; an escape pair or a surrogate pair is never split across parts."""
    if is_gsm7(body):
        units = [2 if ch in GSM7_EXTENSION else 1 for ch in body]
        single, per_part = 160, 153
    else:
        units = [len(ch.encode("utf-16-le")) // 2 for ch in body]
        single, per_part = 70, 67
    if sum(units) <= single:
        return 1
    parts, used = 1, 0
    for unit in units:
        if used + unit > per_part:
            parts += 1
            used = 0
        used += unit
    return parts
