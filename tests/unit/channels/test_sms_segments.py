"""SMS segments as carriers bill them (issue 5, acceptance 8): GSM-7 160/153 with the extension table,
UCS-2 70/67, any Chinese character forcing UCS-2. One implementation, shared by the sandbox and the worker."""

from __future__ import annotations

import pytest

from services.messaging.sms import count_segments, is_gsm7


def test_chinese_sms_of_71_characters_is_two_segments() -> None:
    body = "您" * 71
    assert not is_gsm7(body)
    assert count_segments(body) == 2


def test_gsm7_sms_of_160_characters_is_one_segment() -> None:
    body = "A" * 160
    assert is_gsm7(body)
    assert count_segments(body) == 1


@pytest.mark.parametrize(
    ("body", "segments"),
    [
        ("A" * 161, 2),  # over 160: parts of 153
        ("A" * 306, 2),
        ("A" * 307, 3),
        ("您" * 70, 1),
        ("您" * 134, 2),  # parts of 67
        ("您" * 135, 3),
        ("€" * 80, 1),  # extension characters cost two septets: 160
        ("€" * 81, 2),
        ("A" * 159 + "您", 3),  # one Chinese character turns all 160 characters into UCS-2
        ("Reply STOP to opt out 😀", 1),  # an emoji is two UTF-16 units, still within 70
    ],
)
def test_segment_boundaries(body: str, segments: int) -> None:
    assert count_segments(body) == segments


def test_an_escape_pair_is_never_split_across_parts() -> None:
    # 152 plain characters then a euro sign: the pair does not fit in the first part's last septet.
    assert count_segments("A" * 152 + "€" + "A" * 10) == 2
    assert count_segments("A" * 152 + "€" + "A" * 152) == 3
