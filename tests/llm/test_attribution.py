"""Sentences cited in code where the model did not cite them, streamed or whole."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llm.attribution import SentenceAttributor
from llm.citations import CitationFilter
from llm.reply_language import refusal

CHINESE = [
    "开放时间\n里斯本办公室工作日的开放时间为9:00至17:00。",
    "员工\n里斯本办公室有十二名员工，其中五名是工程师。",
    "经理\n里斯本办公室的经理是李四，他于2019年上任。",
]
TRADITIONAL = [
    "伙食津貼\n每位員工每月發給伙食津貼新台幣2,400元，隨薪資發放。",
    "婚假\n員工結婚可請婚假8天，須於結婚登記後三個月內請畢。",
]
ENGLISH = [
    "Opening hours\nThe Lisbon office is open from 9:00 to 17:00 on weekdays.",
    "Staff\nThe Lisbon office has twelve employees, five of them engineers.",
    "Manager\nThe Lisbon office is managed by Ana Costa since 2019.",
]


def attribute(
    raw: str,
    passages: list[str],
    question: str = "",
    chunks: list[int] | None = None,
    refusal_text: str = refusal("zh-Hans"),
) -> tuple[str, SentenceAttributor]:
    """``raw`` through the citation filter and the attributor, as the answer path streams it
    (in pieces of the given sizes, else whole)."""
    citations = CitationFilter(len(passages))
    attributor = SentenceAttributor(passages, question, refusal=refusal_text)
    out, position = [], 0
    for size in chunks or [len(raw)]:
        out.append(attributor.feed(citations.feed(raw[position : position + size])))
        position += size
    out.append(attributor.feed(citations.feed(raw[position:])))
    out.append(attributor.feed(citations.flush()) + attributor.flush())
    return "".join(out), attributor


@pytest.mark.parametrize(
    ("raw", "passages", "question", "expected"),
    [
        (
            "里斯本办公室有十二名员工。",
            CHINESE,
            "里斯本办公室有多少员工？",
            "里斯本办公室有十二名员工[2]。",
        ),
        ("经理是李四。", CHINESE, "里斯本办公室的经理是谁？", "经理是李四[3]。"),
        ("十二名。", CHINESE, "里斯本办公室有多少员工？", "十二名[2]。"),
        ("每月新台幣2400元。", TRADITIONAL, "伙食津貼每月多少？", "每月新台幣2400元[1]。"),
        ("婚假有8天。", TRADITIONAL, "婚假幾天？", "婚假有8天[2]。"),
        (
            "The Lisbon office has twelve employees.",
            ENGLISH,
            "How many people work in the Lisbon office?",
            "The Lisbon office has twelve employees [2].",
        ),
        (
            "It is managed by Ana Costa. It opens at 9:00 on weekdays.",
            ENGLISH,
            "Who runs the Lisbon office?",
            "It is managed by Ana Costa [3]. It opens at 9:00 on weekdays [1].",
        ),
        # Mixed: a Chinese answer quoting the English passage's name.
        ("经理是 Ana Costa。", ENGLISH, "里斯本办公室的经理是谁？", "经理是 Ana Costa [3]。"),
    ],
)
def test_uncited_sentences_get_the_passage_that_holds_them(
    raw: str, passages: list[str], question: str, expected: str
) -> None:
    shown, attributor = attribute(raw, passages, question)
    assert shown == expected
    assert attributor.cited == [int(n) for n in re.findall(r"\[(\d)\]", expected)]


@pytest.mark.parametrize(
    ("raw", "passages", "question", "expected"),
    [
        # Cited, and the cited passage holds it: left as the model wrote it.
        ("有十二名员工[2]。", CHINESE, "有多少员工？", "有十二名员工[2]。"),
        ("有十二名员工。[2]", CHINESE, "有多少员工？", "有十二名员工。[2]"),
        # Cited passage shares only the question's words: clearly the other one.
        (
            "里斯本办公室有十二名员工[1]。",
            CHINESE,
            "里斯本办公室有多少员工？",
            "里斯本办公室有十二名员工[2]。",
        ),
        (
            "The Lisbon office has twelve employees (1).",
            ENGLISH,
            "How many people work in the Lisbon office?",
            "The Lisbon office has twelve employees [2].",
        ),
        # The right passage cited beside the wrong one: the wrong one goes.
        ("有十二名员工[1][2]。", CHINESE, "有多少员工？", "有十二名员工[2]。"),
    ],
)
def test_citations_move_only_when_the_evidence_is_clear(
    raw: str, passages: list[str], question: str, expected: str
) -> None:
    assert attribute(raw, passages, question)[0] == expected


def test_a_weak_but_plausible_citation_is_kept() -> None:
    # Passage 1 says the office opens on weekdays; "works on weekdays" is near enough.
    shown, _ = attribute("The office works on weekdays [1].", ENGLISH, "When does it work?")
    assert shown == "The office works on weekdays [1]."


def test_sentences_from_no_passage_stay_uncited() -> None:
    shown, attributor = attribute(
        "Twelve people work there [2]. Hope this helps!", ENGLISH, "How many work there?"
    )
    assert shown == "Twelve people work there [2]. Hope this helps!"
    assert attributor.cited == [2]


def test_an_answer_citing_nothing_cites_its_best_passage_at_the_end() -> None:
    # No single sentence is clearly from a passage, the answer as a whole is.
    shown, attributor = attribute("员工。共十二名。", CHINESE, "多少人？")
    assert attributor.cited and shown.endswith("]。")


@pytest.mark.parametrize(
    "raw",
    [
        "I don't know based on the provided passages.",
        "I don't know based on the provided passages. The office has twelve employees [2].",
        "所提供的段落中没有提到经理的电话。",
    ],
)
def test_a_refusal_is_replaced_by_the_questions_language(raw: str) -> None:
    shown, attributor = attribute(raw, CHINESE, "经理的电话是多少？", chunks=[1] * len(raw))
    assert shown == refusal("zh-Hans")
    assert attributor.declined and attributor.cited == []


def test_a_sentence_streams_up_to_what_attribution_may_change() -> None:
    citations = CitationFilter(3)
    attributor = SentenceAttributor(ENGLISH, "How many people work there?")  # no refusal to hold
    assert attributor.feed(citations.feed("The Lisbon office has")) == "The Lisbon office has"
    assert attributor.feed(citations.feed(" twelve employees.")) == " twelve employees"
    # The full stop waits: a citation may follow it, or go before it.
    assert attributor.feed(citations.feed(" It opens [")) == " [2]. It opens"
    assert attributor.feed(citations.feed("1] at nine.")) == ""  # from a citation on: held
    assert attributor.feed(citations.flush()) + attributor.flush() == " [1] at nine."
    assert attributor.cited == [2, 1]


def test_a_chinese_answer_that_opens_as_refusals_do_is_held_until_it_cannot_be_one() -> None:
    citations = CitationFilter(3)
    attributor = SentenceAttributor(CHINESE, "有多少员工？", refusal=refusal("zh-Hans"))
    assert attributor.feed(citations.feed("根据段落，里斯本办公室有十二名员工")) == ""
    assert attributor.feed(citations.feed("。")) == ""  # a citation may still follow
    assert attributor.feed(citations.feed("经理")) == "根据段落，里斯本办公室有十二名员工[2]。经理"
    long_first = (
        "根据资料，里斯本办公室位于市中心，共有十二名员工，"
        "其中五名是工程师，他们每天九点上班并在五点下班"
    )
    attributor = SentenceAttributor(CHINESE, "有多少员工？", refusal=refusal("zh-Hans"))
    assert attributor.feed(long_first[:30]) == ""
    assert attributor.feed(long_first[30:]) == long_first  # 40 characters and no refusal


@pytest.mark.parametrize(
    ("first", "question", "language"),
    [
        ("里斯本办公室有十二名员工", "有多少员工？", "zh-Hans"),
        ("40,000人", "有多少人？", "zh-Hans"),
        ("每位員工每月", "伙食津貼多少？", "zh-Hant"),
    ],
)
def test_a_chinese_answer_that_opens_with_its_content_streams_at_once(
    first: str, question: str, language: str
) -> None:
    """No refusal opens this way: the first characters are shown as they come, not after
    the whole first sentence (the CPU model's first token)."""
    attributor = SentenceAttributor(CHINESE, question, refusal=refusal(language))
    assert attributor.feed(first[:1]) == first[:1]
    assert attributor.feed(first[1:]) == first[1:]
    assert not attributor.declined


@pytest.mark.parametrize(
    "raw",
    [
        "根据所提供的文档内容，我无法回答这个问题。",
        "根據所提供的文件內容，我無法回答這個問題。",
        "抱歉，提供的段落中没有提到经理是谁。",
        "文中未提及经理的名字。",
        "I don't know based on the provided passages.",
        "**I don't know** based on the provided passages.",
    ],
)
def test_a_refusal_to_a_chinese_question_is_never_shown_in_its_own_words(raw: str) -> None:
    for size in (1, 3, 7):
        shown, attributor = attribute(raw, CHINESE, "经理是谁？", chunks=[size] * 20)
        assert shown == refusal("zh-Hans") and attributor.declined, (size, shown)


def test_an_english_refusal_is_shown_as_written_and_not_cited() -> None:
    text = "I don't know based on the provided passages. The office has twelve employees."
    attributor = SentenceAttributor(ENGLISH, "Who is the manager?")
    shown = attributor.feed(text) + attributor.flush()
    assert shown == text and attributor.declined and attributor.cited == []


def test_decimals_and_code_do_not_end_sentences() -> None:
    passages = ["Version\nSet timeout to 2.5 s with `client.timeout = 2.5` in config.py."]
    shown, _ = attribute("Set it to 2.5 s with `client.timeout = 2.5`.", passages, "timeout?")
    assert shown == "Set it to 2.5 s with `client.timeout = 2.5` [1]."


def test_a_sentence_without_an_end_is_released_when_long() -> None:
    attributor = SentenceAttributor(ENGLISH, "q")
    shown = attributor.feed("word " * 100)
    assert shown.startswith("word word") and attributor.flush() == ""


ANSWER = st.lists(
    st.sampled_from(
        [
            "里斯本办公室",
            "有十二名员工",
            "。",
            "[1]",
            "[2]",
            "，",
            " ",
            "Ana Costa",
            ".",
            "\n",
            "2.5",
            "H. pylori",
            "et al. ",
            "No. ",
        ]
    ),
    max_size=14,
).map("".join)


@settings(max_examples=200, deadline=None)
@given(
    raw=ANSWER,
    cuts=st.lists(st.integers(1, 4), max_size=40),
    refusal_text=st.sampled_from(["", refusal("zh-Hans")]),
)
def test_streamed_in_any_pieces_equals_whole(raw: str, cuts: list[int], refusal_text: str) -> None:
    whole, whole_attributor = attribute(raw, CHINESE, "有多少员工？", refusal_text=refusal_text)
    streamed, streamed_attributor = attribute(
        raw, CHINESE, "有多少员工？", chunks=cuts, refusal_text=refusal_text
    )
    assert streamed == whole
    assert streamed_attributor.cited == whole_attributor.cited
    # Every citation shown names a passage given, and the text is kept apart from them.
    assert all(1 <= int(n) <= len(CHINESE) for n in re.findall(r"\[(\d+)\]", whole))
    assert re.sub(r"\[\d+\]|\s", "", whole) == re.sub(r"\[\d+\]|\s", "", raw) or (
        whole_attributor.declined
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        # Seen from the real model: "Yes, it is true that H [1]. pylori-mediated …".
        (
            "Yes, H. pylori infection causes gastric cancer.",
            "Yes, H. pylori infection causes gastric cancer [1].",
        ),
        (
            "Mutations in E. coli e.g. in lacZ were studied by Chen et al. in 2001.",
            "Mutations in E. coli e.g. in lacZ were studied by Chen et al. in 2001 [2].",
        ),
        # A real sentence end is still one: "No." opens the next sentence.
        (
            "No. Chen et al. found that E. coli grows slower. It stops at 40 degrees.",
            "No. Chen et al. found that E. coli grows slower [2]. It stops at 40 degrees [2].",
        ),
    ],
)
def test_initials_and_abbreviations_do_not_end_sentences(raw: str, expected: str) -> None:
    passages = [
        "Gastric cancer\nInfection with H. pylori causes gastric cancer in some patients.",
        "Bacteria\nChen et al. (2001) found that E. coli grows slower and stops at 40 degrees; "
        "mutations in lacZ were studied.",
    ]
    shown, _ = attribute(raw, passages, "Is it true?", refusal_text="")
    assert shown == expected
    # Streamed a character at a time, the same.
    streamed, _ = attribute(raw, passages, "Is it true?", chunks=[1] * len(raw), refusal_text="")
    assert streamed == expected
