"""Answers follow the question's script (issue 12): a Traditional question gets Traditional
text, a Simplified one Simplified, English passes untouched, however the stream is split."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from core.text_forms import to_simplified, to_traditional
from llm.answer_script import MAX_HELD, ScriptFollower
from llm.reply_language import ENGLISH, SIMPLIFIED, TRADITIONAL

SIMPLIFIED_ANSWER = "龙井茶产于杭州西湖一带[1]。后天的会议在皇后大道举行，请带上身份证。"
TRADITIONAL_ANSWER = "龍井茶產於杭州西湖一帶[1]。後天的會議在皇后大道舉行，請帶上身份證。"


def stream(language: str, pieces: list[str]) -> str:
    follower = ScriptFollower(language)
    return "".join(follower.feed(piece) for piece in pieces) + follower.flush()


def test_a_traditional_question_gets_traditional_characters_phrase_by_phrase() -> None:
    pieces = [SIMPLIFIED_ANSWER[i : i + 1] for i in range(len(SIMPLIFIED_ANSWER))]
    shown = stream(TRADITIONAL, pieces)
    assert shown == TRADITIONAL_ANSWER
    # 皇后 (empress) keeps its 后; 后天 (the day after tomorrow) takes 後.
    assert "皇后" in shown and "後天" in shown


def test_a_simplified_question_gets_simplified_characters() -> None:
    assert stream(SIMPLIFIED, [TRADITIONAL_ANSWER[:7], TRADITIONAL_ANSWER[7:]]) == SIMPLIFIED_ANSWER


def test_english_and_mixed_text_pass_untouched_in_english() -> None:
    text = "The 龙井 tea grows near Hangzhou [1]. 後天 is Tuesday."
    assert stream(ENGLISH, [text[:9], text[9:]]) == text


def test_latin_words_and_citations_in_chinese_answers_are_kept() -> None:
    text = "请在 VPN 客户端中选择 Zhiku-Office 配置[2][3]。"
    assert stream(TRADITIONAL, [text]) == "請在 VPN 客戶端中選擇 Zhiku-Office 配置[2][3]。"


def test_a_long_unpunctuated_run_is_not_held_forever() -> None:
    follower = ScriptFollower(TRADITIONAL)
    shown = follower.feed("这" * (MAX_HELD + 10))
    assert shown and len(shown) >= 10
    assert shown + follower.flush() == "這" * (MAX_HELD + 10)


_HAN_PIECE = st.sampled_from(list("龙井茶产于杭州后天会议皇后大道举行带上身份证发现头发国际经济"))
_OTHER = st.sampled_from(list("，。！？ [1]\nABCxyz123-"))
_TEXT = st.lists(
    st.tuples(st.lists(_HAN_PIECE, min_size=0, max_size=MAX_HELD - 4), _OTHER), max_size=12
).map(lambda parts: "".join("".join(han) + other for han, other in parts))


@settings(max_examples=200, deadline=None)
@given(text=_TEXT, cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8))
def test_any_split_of_the_stream_gives_the_whole_text_converted(text: str, cuts: list[int]) -> None:
    bounds = sorted({min(c, len(text)) for c in cuts} | {0, len(text)})
    pieces = [text[a:b] for a, b in itertools.pairwise(bounds)]
    assert stream(TRADITIONAL, pieces) == to_traditional(text)
    assert stream(SIMPLIFIED, pieces) == to_simplified(text)


def test_a_hong_kong_reader_gets_hong_kongs_character_forms() -> None:
    """A reader in Hong Kong or Macau (zh-HK, zh-MO, zh-Hant-HK) gets Hong Kong's standard
    forms (裏, 着, 户), a reader in Taiwan Taiwan's (裡, 著, 戶); the words stay the model's."""
    answer = "文件里写着：用户的软件在服务器上运行[1]。"
    pieces = [answer[i : i + 2] for i in range(0, len(answer), 2)]
    hong_kong = ScriptFollower(TRADITIONAL, hong_kong=True)
    shown = "".join(hong_kong.feed(p) for p in pieces) + hong_kong.flush()
    assert shown == "文件裏寫着：用户的軟件在服務器上運行[1]。"
    assert stream(TRADITIONAL, pieces) == "文件裡寫著：用戶的軟件在服務器上運行[1]。"
    # A Simplified or English question is unaffected by the reader's region.
    simplified = ScriptFollower(SIMPLIFIED, hong_kong=True)
    assert simplified.feed("文件裏寫着。") + simplified.flush() == "文件里写着。"
    english = ScriptFollower(ENGLISH, hong_kong=True)
    assert english.feed("Files 文件") + english.flush() == "Files 文件"
