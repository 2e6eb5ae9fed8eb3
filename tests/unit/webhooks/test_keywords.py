"""Inbound SMS keywords: opt-out in any case, with spaces, in English and Chinese, and inside a sentence;
opt-in and help only as the whole message."""

from __future__ import annotations

import pytest

from services.webhooks.keywords import Intent, classify

OPT_OUTS = [
    *("STOP", "stop", " Stop ", "STOP.", "stopall", "STOP ALL", "UNSUBSCRIBE", "cancel", "END", "quit"),
    *("REVOKE", "optout", "opt out", "Opt-Out", "ＳＴＯＰ", "TD", "td", "T"),
    *("退订", " 退订 ", "取消", "停止", "回复TD", "请不要再发短信", "别再发了", "我要退订"),
    *("pls stop texting me", "Please STOP!!", "I want to unsubscribe from this", "do not text me again"),
    *("Don't text me", "please remove me from your list"),
]


@pytest.mark.parametrize("body", OPT_OUTS)
def test_opt_out(body: str) -> None:
    assert classify(body) is Intent.OPT_OUT


@pytest.mark.parametrize("body", ["START", " start ", "Unstop", "YES", "开始"])
def test_opt_in(body: str) -> None:
    assert classify(body) is Intent.OPT_IN


@pytest.mark.parametrize("body", ["HELP", "help", " Info ", "帮助"])
def test_help(body: str) -> None:
    assert classify(body) is Intent.HELP


@pytest.mark.parametrize(
    "body",
    [
        "When is my payment due?",
        "I will pay at the end of the month",  # 'end' revokes only as the whole message
        "Can you help me with a payment plan?",  # 'help' asks for the help text only on its own
        "I paid yesterday, start date was wrong",
        "好的，谢谢",
        "",
    ],
)
def test_other_texts(body: str) -> None:
    assert classify(body) is Intent.OTHER
