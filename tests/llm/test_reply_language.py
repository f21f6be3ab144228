"""The language an answer's own words go out in: the question's, Simplified or Traditional."""

from __future__ import annotations

import pytest

from llm.citations import is_dont_know
from llm.reply_language import (
    NO_PASSAGES,
    REFUSALS,
    no_passages,
    refusal,
    reply_language,
    sources_heading,
)


@pytest.mark.parametrize(
    ("question", "language"),
    [
        ("年假有多少天？", "zh-Hans"),
        ("员工手册里说年假怎么算", "zh-Hans"),
        ("每位員工每月發給伙食津貼多少？", "zh-Hant"),
        ("婚假可以請幾天？", "zh-Hant"),
        ("伙食津貼是多少？", "zh-Hant"),
        ("VPN 怎么配置？", "zh-Hans"),
        ("VPN 怎麼設定？", "zh-Hant"),
        ("ＨＥＰＡ滤网多久更换？", "zh-Hans"),  # full-width Latin
        ("How many days of annual leave?", "en"),
        ("What does the 年假 policy say about carrying days over?", "en"),
        ("Wie viele Urlaubstage?", "en"),
        ("", "en"),
    ],
)
def test_the_reply_language_is_the_questions(question: str, language: str) -> None:
    assert reply_language(question) == language


def test_every_language_has_its_own_words_and_unknown_ones_get_english() -> None:
    assert REFUSALS.keys() == NO_PASSAGES.keys() == {"en", "zh-Hans", "zh-Hant"}
    assert len({refusal(x) for x in REFUSALS}) == 3
    assert refusal("fr") == refusal("en") and no_passages("fr") == no_passages("en")
    assert sources_heading("zh-Hant") == "來源：" and sources_heading("de") == "Sources:"
    # A refusal in any of them reads as one; "nothing found" is not the model's refusal.
    assert all(is_dont_know(text) for text in REFUSALS.values())
