"""The terms sentences and passages are compared on (core.text_terms), in both scripts."""

from __future__ import annotations

from core.text_terms import overlap_terms


def test_chinese_is_character_pairs_and_other_text_words() -> None:
    assert overlap_terms("年假天数") == ["年假", "假天", "天数"]
    assert overlap_terms("假") == ["假"]
    assert overlap_terms("the manager") == overlap_terms("manages")
    assert overlap_terms("The employees worked 2,400 hours") == ["emplo", "work", "2400", "hour"]


def test_full_width_and_traditional_are_read_as_plain_simplified() -> None:
    assert overlap_terms("ＡＢＣ１２３") == ["abc123"]
    assert overlap_terms("誰是經理") == overlap_terms("谁是经理")
    assert overlap_terms("年終獎金１２，０００元") == overlap_terms("年终奖金12000元")


def test_mixed_text_keeps_its_order() -> None:
    assert overlap_terms("iPhone 15的保修期是两年") == [
        "iphon",
        "15",
        "的保",
        "保修",
        "修期",
        "期是",
        "是两",
        "两年",
    ]
