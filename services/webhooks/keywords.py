"""What an inbound SMS asks for: opt out, opt back in, help, or nothing we act on.

Regulation F 1006.6(e) and the TCPA honour a revocation in any reasonable wording, so besides the carrier
keywords a message that contains an opt-out word or phrase among other words ("pls stop texting me")
counts too. When in doubt the answer is opt-out: wrongly stopping is safe, wrongly continuing is not.
"""

from __future__ import annotations

import re
import unicodedata
from enum import StrEnum


class Intent(StrEnum):
    OPT_OUT = "opt_out"
    OPT_IN = "opt_in"
    HELP = "help"
    OTHER = "other"


# The whole message, after normalization (case, width, surrounding spaces and punctuation).
_OPT_OUT_EXACT = frozenset(
    {
        "stop",
        "stopall",
        "stop all",
        "unsubscribe",
        "cancel",
        "end",
        "quit",
        "revoke",
        "optout",
        "opt out",
        "opt-out",
        "退订",
        "td",
        "t",
        "取消",
        "停止",
        "退出",
        "拒收",
    }
)
_OPT_IN_EXACT = frozenset({"start", "unstop", "yes", "开始", "恢复"})
_HELP_EXACT = frozenset({"help", "info", "帮助", "客服"})
# Words that revoke consent wherever they stand in a longer message.
_OPT_OUT_WORDS = frozenset({"stop", "stopall", "unsubscribe", "optout", "revoke", "td"})
_OPT_OUT_PHRASES = (
    "opt out",
    "do not text",
    "dont text",
    "do not message",
    "do not contact",
    "dont contact",
    "do not call",
    "dont call",
    "remove me",
    "leave me alone",
    "no more texts",
    "no more messages",
)
_OPT_OUT_CJK = ("退订", "取消订阅", "停止发送", "不要再发", "别再发", "不要发", "拒收", "别发", "不要联系")
_WORD = re.compile(r"[a-z]+")
_EDGES = re.compile(r"^[\W_]+|[\W_]+$")


def normalize(body: str) -> str:
    text = unicodedata.normalize("NFKC", body).casefold().replace("’", "'").replace("'", "")
    return " ".join(_EDGES.sub("", text).split())


def classify(body: str) -> Intent:
    text = normalize(body)
    if text in _OPT_OUT_EXACT:
        return Intent.OPT_OUT
    if text in _OPT_IN_EXACT:
        return Intent.OPT_IN
    if text in _HELP_EXACT:
        return Intent.HELP
    words = set(_WORD.findall(text))
    spaced = " ".join(_WORD.findall(text))
    if (
        words & _OPT_OUT_WORDS
        or any(phrase in spaced for phrase in _OPT_OUT_PHRASES)
        or any(phrase in text for phrase in _OPT_OUT_CJK)
    ):
        return Intent.OPT_OUT
    return Intent.OTHER
