"""SMS segments as carriers bill them: GSM-7 160/153 with the extension table, UCS-2 70/67, any Chinese
character forcing UCS-2, and no emoji split across parts. One implementation, shared by the sandbox and the
worker."""

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


# Emoji made of several code points, each one grapheme cluster, with its UTF-16 length.
THUMB_MEDIUM = "\U0001f44d\U0001f3fd"  # thumbs up + skin tone modifier: 4 units
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"  # man ZWJ woman ZWJ girl: 8 units
FLAG_US = "\U0001f1fa\U0001f1f8"  # two regional indicators: 4 units
KEYCAP_ONE = "1\ufe0f\u20e3"  # digit + variation selector + combining keycap: 3 units
RED_HEART = "\u2764\ufe0f"  # heart + emoji presentation selector: 2 units


@pytest.mark.parametrize(
    ("body", "segments"),
    [
        # The cluster would straddle the first part's end (65 + 4 > 67): it opens the second part instead.
        ("您" * 65 + THUMB_MEDIUM + "您" * 65, 3),
        ("您" * 63 + THUMB_MEDIUM + "您" * 67, 2),  # ends the first part exactly
        ("您" * 62 + FAMILY + "您" * 64, 3),  # 8 units from 62: the ZWJ family moves whole
        ("您" * 59 + FAMILY + "您" * 67, 2),
        ("您" * 64 + FLAG_US + "您" * 64, 3),  # a flag is never cut between its two indicators
        ("您" * 63 + FLAG_US + "您" * 67, 2),
        ("您" * 65 + KEYCAP_ONE + "您" * 65, 3),  # the keycap stays with its digit
        ("您" * 64 + KEYCAP_ONE + "您" * 67, 2),
        ("您" * 66 + RED_HEART + "您" * 66, 3),  # two code points, both in the BMP
        ("您" * 65 + RED_HEART + "您" * 67, 2),
    ],
)
def test_an_emoji_of_several_code_points_is_never_split_across_parts(body: str, segments: int) -> None:
    assert count_segments(body) == segments


@pytest.mark.parametrize(
    ("body", "segments"),
    [
        ("您" * 66 + THUMB_MEDIUM, 1),  # 70 units: one message
        ("您" * 67 + THUMB_MEDIUM, 2),  # 71
        ("您" * 62 + FAMILY, 1),  # 70
        ("您" * 63 + FAMILY, 2),
        ("A" * 66 + FLAG_US, 1),  # a flag turns the body into UCS-2
        ("A" * 67 + KEYCAP_ONE, 1),
        ("A" * 68 + KEYCAP_ONE, 2),
        (THUMB_MEDIUM * 17 + "您" * 2, 1),
        (THUMB_MEDIUM * 18, 2),  # 72 units; 16 clusters (64 units) in the first part
        (THUMB_MEDIUM * 32, 2),  # two parts of 16 clusters (64 units each)
        (THUMB_MEDIUM * 33, 3),  # 132 units would fit two parts of 67, but only cut inside a cluster
    ],
)
def test_multi_code_point_emoji_at_the_single_message_boundary(body: str, segments: int) -> None:
    assert count_segments(body) == segments


def test_a_cluster_longer_than_a_part_is_split_between_its_code_points() -> None:
    # A letter with 80 combining accents is one cluster of 81 units: it cannot fit any part whole.
    assert count_segments("a" + "\u0301" * 80) == 2
