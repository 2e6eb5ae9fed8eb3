"""Inbound SMS keywords: opt-out in any case, with spaces, hidden or look-alike characters, in English,
Spanish and Chinese, and inside a sentence; opt-in and help only as the whole message; keyword files refused,
naming file and field, when they are wrong."""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from services.core.settings import ConfigError
from services.webhooks.keywords import Intent, Matcher, Rule, classify, default_matcher, normalize
from services.webhooks.lookalikes import LOOKALIKES

OPT_OUTS = [
    *("STOP", "stop", " Stop ", "STOP.", "stopall", "STOP ALL", "UNSUBSCRIBE", "cancel", "END", "quit"),
    *("REVOKE", "optout", "opt out", "Opt-Out", "ＳＴＯＰ", "TD", "td", "T"),
    *("退订", " 退订 ", "取消", "停止", "回复TD", "请不要再发短信", "别再发了", "我要退订"),
    *("pls stop texting me", "Please STOP!!", "I want to unsubscribe from this", "do not text me again"),
    *("Don't text me", "please remove me from your list"),
    # Missed before the keyword files: hidden characters, Traditional Chinese, Spanish, sentences, typos,
    # Cyrillic and Greek look-alikes.
    *("S\u200bTOP", "STO\u00adP", "退訂", "BAJA", "PARAR", "ALTO", "CANCELAR", "cancel my texts"),
    *("quit texting me", "unsub", "stopp", "S\u0422\u041e\u0420", "S\u03a4\u039f\u03a1"),
]


@pytest.mark.parametrize("body", OPT_OUTS)
def test_opt_out(body: str) -> None:
    assert classify(body) is Intent.OPT_OUT


@pytest.mark.parametrize("body", ["START", " start ", "Unstop", "YES", "开始", "開始", "恢復", "ALTA"])
def test_opt_in(body: str) -> None:
    assert classify(body) is Intent.OPT_IN


@pytest.mark.parametrize("body", ["HELP", "help", " Info ", "帮助", "幫助", "AYUDA"])
def test_help(body: str) -> None:
    assert classify(body) is Intent.HELP


@pytest.mark.parametrize(
    "body",
    [
        "When is my payment due?",
        "I will pay at the end of the month",  # 'end' revokes only as the whole message or a clause
        "Can you help me with a payment plan?",  # 'help' asks for the help text only on its own
        "I paid yesterday, start date was wrong",
        "好的，谢谢",
        "",
        "I'll pay Friday",
        "stop by the branch?",
        "can I stop the late fee",
    ],
)
def test_other_texts(body: str) -> None:
    assert classify(body) is Intent.OTHER


def test_an_innocent_sense_excuses_only_its_own_words() -> None:
    assert classify("Can I stop by the branch? And stop texting me") is Intent.OPT_OUT
    assert classify("Can I stop by the branch and then stop") is Intent.OPT_OUT
    assert classify("Estoy de baja médica. Baja") is Intent.OPT_OUT


def test_the_rule_that_decided_is_reported() -> None:
    matcher = default_matcher()
    assert matcher.match("STOP please").rule is Rule.KEYWORD
    assert matcher.match("cancel my texts").rule is Rule.PHRASE
    assert matcher.match("I paid, please stop").rule is Rule.WORD
    assert matcher.match("I paid. END").rule is Rule.CLAUSE
    assert matcher.match("I'll pay Friday").rule is Rule.NONE


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("  ＳＴＯＰ!! ", "stop"),
        ("S\u200bT\u200dO\u2060P\ufeff", "stop"),
        ("STO\u00adP", "stop"),
        ("\u202eSTOP\u202c", "stop"),
        ("STOP\ufe0f", "stop"),
        ("S\u0422\u041e\u0420", "stop"),  # Cyrillic TE, O, ER
        ("S\u03a4\u039f\u03a1", "stop"),  # Greek TAU, OMICRON, RHO
        ("\ua731\u1d1b\u1d0f\u1d18", "stop"),  # small capitals
        ("\U0001d412\U0001d413\U0001d40e\U0001d40f", "stop"),  # mathematical bold, folded by NFKC
        ("Don’t   text\tme.", "dont text me"),
        ("СТОП", "стоп"),  # Russian: П has no Latin look-alike, so the word stays Russian
        ("Straße", "strasse"),
        ("  回复ＴＤ。", "回复td"),
    ],
)
def test_normalize(body: str, expected: str) -> None:
    assert normalize(body) == expected


def test_every_look_alike_is_a_letter_read_as_one_latin_letter() -> None:
    for char, latin in LOOKALIKES.items():
        name = unicodedata.name(char)
        assert name.startswith(("CYRILLIC ", "GREEK ", "ARMENIAN ", "LATIN ")), name
        assert unicodedata.category(char).startswith("L"), name
        assert len(latin) == 1 and "a" <= latin <= "z", name


@pytest.mark.parametrize(
    "body",
    [
        *("stopp", "stoop", "sstop", "sotp", "st0p", "unsubscibe", "unsubscrive", "unsubscribed", "cancle"),
        *("cancl", "quitt", "endd", "cancelr", "bajaa"),
    ],
)
def test_typos_of_carrier_words_opt_out(body: str) -> None:
    assert classify(body) is Intent.OPT_OUT


@pytest.mark.parametrize(
    "body",
    [
        "spot",
        "step",
        "shop",
        "stops",
        "top",
        "cancer",
        "quite",
        "quiet",
        "and",
        "para",
        "bajo",
        "100",
        "thanks alot",
    ],
)
def test_ordinary_words_near_carrier_words_do_not(body: str) -> None:
    assert classify(body) is Intent.OTHER


def test_default_matcher_is_loaded_once() -> None:
    assert default_matcher() is default_matcher()


# ---- keyword files --------------------------------------------------------------------------------------


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_folder_of_files_builds_its_own_matcher(tmp_path: Path) -> None:
    write(
        tmp_path,
        "xx.toml",
        'language = "xx"\nopt_out = ["Ｈalt"]\nopt_in = ["go on"]\nphrases = ["leave now"]\n',
    )
    matcher = Matcher.load(tmp_path)
    assert matcher.classify("HALT!") is Intent.OPT_OUT
    assert matcher.classify("Go on") is Intent.OPT_IN
    assert matcher.classify("please leave now") is Intent.OPT_OUT
    assert matcher.classify("STOP") is Intent.OTHER  # only this folder's words


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ('language = "xx"\n', r"xx\.toml: opt_out: Field required"),
        (
            'language = "xx"\nopt_out = ["stop"]\nextra = 1\n',
            r"xx\.toml: extra: Extra inputs are not permitted",
        ),
        ('language = "xx"\nopt_out = ["!!"]\n', r"xx\.toml: opt_out\[0\]: .*no letters left"),
        (
            'language = "xx"\nopt_out = ["stop"]\nphrases = ["stop (it"]\n',
            r"phrases\[0\]: .*not a regular expr",
        ),
        ('language = "xx"\nopt_out = ["stop"]\nphrases = ["Stop it"]\n', r"phrases\[0\]: .*lower case"),
        ('language = "xx"\nopt_out = ["stop"]\ninnocent = ["(by)?"]\n', r"innocent\[0\]: .*empty text"),
        ('language = "xx"\nopt_out = ["stop"]\nphrases = ["don\'t"]\n', r"phrases\[0\]: .*apostrophes"),
        ('language = "xx"\nopt_out = ["stop"]\nphrases = ["(?P<x>a)b"]\n', r"phrases\[0\]: .*named groups"),
        ('language = "xx"\nopt_out = ["stop"]\nphrases = [\'(a)\\1\']\n', r"phrases\[0\]: .*back-references"),
        (
            'language = "xx"\nopt_out = ["stop"]\ntypo_tolerant = ["td"]\n',
            r"typo_tolerant\[0\]: .*three letters",
        ),
        (
            'language = "xx"\nopt_out = ["stop"]\ntypo_tolerant = ["halt"]\n',
            r"typo_tolerant\[0\]: 'halt' is in neither",
        ),
        ('language = "yy"\nopt_out = ["stop"]\n', r"xx\.toml: language: 'yy' differs from the file name"),
        ('language = "xx"\nopt_out = "stop"\n', r"xx\.toml: opt_out: Input should be a valid"),
        ('language = "xx"\nopt_out = [\n', r"xx\.toml: not valid TOML"),
    ],
)
def test_a_bad_file_is_refused_naming_file_and_field(tmp_path: Path, text: str, error: str) -> None:
    write(tmp_path, "xx.toml", text)
    with pytest.raises(ConfigError, match=error):
        Matcher.load(tmp_path)


def test_a_word_with_two_intents_is_refused_naming_both_files(tmp_path: Path) -> None:
    write(tmp_path, "aa.toml", 'language = "aa"\nopt_out = ["stop", "basta"]\n')
    write(tmp_path, "bb.toml", 'language = "bb"\nopt_out = ["fin"]\nopt_in = ["basta"]\n')
    with pytest.raises(
        ConfigError, match=r"bb\.toml: opt_in\[0\]: 'basta' is already in opt_out of .*aa\.toml"
    ):
        Matcher.load(tmp_path)


def test_an_empty_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no opt-out keyword files"):
        Matcher.load(tmp_path)
