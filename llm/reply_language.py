"""The language an answer goes out in, and the fixed sentences it may be: the question's.

A Chinese question gets Chinese words from us (a refusal, "nothing found"), in Traditional
characters when the question is written in them; anything else gets English. Told apart
cheaply: Han characters against Latin words (as ``retrieval.language`` routes queries, which
``llm`` may not import), then characters that exist in one script only.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Literal

ReplyLanguage = Literal["en", "zh-Hans", "zh-Hant"]
ENGLISH: ReplyLanguage = "en"
SIMPLIFIED: ReplyLanguage = "zh-Hans"
TRADITIONAL: ReplyLanguage = "zh-Hant"

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+")
# Common characters written differently in the two scripts. A question holds a few of them
# more often than not; none (or a tie) means Simplified, what most users here write.
_TRADITIONAL_FORMS = frozenset(
    "們這個來時說會對開關電話還進過後問題學發經點與實現樣為無從種麼書請認識國員際應該體務費機當長門見車"
    "產業區華東僅價倉億優傳傷備億勞勢動務參號變團圖圓場塊壓處夠媽嗎寫將專導層屬幫應廣廳張強態總戶"
    "報據損換擇擔數斷時書條權橫歲歷歸氣決沒準為無現環產畫療發盡監確禮稱積穩窮簽簡類練組結絕給統"
    "續網線編總職聯聽腦與舉藝蘭處號衛補裝複規視親觀計訂認討許設評識試話該詳說請論證識議讀變讓貨"
    "質購資賽趕躍轉輕較輸辦農運過達遠適選遲還邊郵鄉醫鐘錄鎮門開間閱陳陽隊隨險難雙雲電須頁項順頭"
    "題額風飛館騎驗體點黨齊帶師廠廢餘歡貼錢幾擁鐘裡嗎麼們臺灣灣區"
)
_SIMPLIFIED_FORMS = frozenset(
    "们这个来时说会对开关电话还进过后问题学发经点与实现样为无从种么书请认识国员际应该体务费机当长门见车"
    "产业区华东仅价仓亿优传伤备亿劳势动务参号变团图圆场块压处够妈吗写将专导层属帮应广厅张强态总户"
    "报据损换择担数断时书条权横岁历归气决没准为无现环产画疗发尽监确礼称积稳穷签简类练组结绝给统"
    "续网线编总职联听脑与举艺兰处号卫补装复规视亲观计订认讨许设评识试话该详说请论证识议读变让货"
    "质购资赛赶跃转轻较输办农运过达远适选迟还边邮乡医钟录镇门开间阅陈阳队随险难双云电须页项顺头"
    "题额风飞馆骑验体点党齐带师厂废余欢贴钱几拥钟湾"
)
_TRADITIONAL_ONLY = _TRADITIONAL_FORMS - _SIMPLIFIED_FORMS
_SIMPLIFIED_ONLY = _SIMPLIFIED_FORMS - _TRADITIONAL_FORMS

REFUSALS: dict[ReplyLanguage, str] = {
    ENGLISH: "I don't know based on the provided passages.",
    SIMPLIFIED: "根据所提供的文档内容，我无法回答这个问题。",
    TRADITIONAL: "根據所提供的文件內容，我無法回答這個問題。",
}
NO_PASSAGES: dict[ReplyLanguage, str] = {
    ENGLISH: "I could not find anything about this in the documents you have access to.",
    SIMPLIFIED: "在您有权访问的文档中，没有找到与此相关的内容。",
    TRADITIONAL: "在您有權存取的文件中，沒有找到與此相關的內容。",
}

# The heading of the list of cited sources after an answer (the OpenAI-compatible route's).
SOURCES_HEADING: dict[ReplyLanguage, str] = {
    ENGLISH: "Sources:",
    SIMPLIFIED: "来源：",
    TRADITIONAL: "來源：",
}


def reply_language(question: str, earlier: Sequence[str] = ()) -> ReplyLanguage:
    """``zh-Hant`` / ``zh-Hans`` for a Chinese question (Han characters at least half as many
    as Latin words: "VPN 怎么配置？" is Chinese), else ``en``.

    ``earlier``: the conversation's previous questions, oldest first. A Chinese question whose
    characters are the same in both scripts ("那病假呢？", a common follow-up) is in the script
    of the latest one that tells, so a Traditional conversation is not answered in Simplified
    halfway through; with none, Simplified."""
    if not _is_chinese(question):
        return ENGLISH
    for text in (question, *reversed(earlier)):
        script = _script(text) if _is_chinese(text) else None
        if script is not None:
            return script
    return SIMPLIFIED


def _is_chinese(text: str) -> bool:
    text = unicodedata.normalize("NFKC", text)
    han = len(_HAN.findall(text))
    return han > 0 and han * 2 >= len(_LATIN_WORD.findall(text))


def _script(text: str) -> ReplyLanguage | None:
    """The script that ``text``'s script-only characters point to; None when it holds none of
    them, or as many of each."""
    han = _HAN.findall(unicodedata.normalize("NFKC", text))
    traditional = sum(c in _TRADITIONAL_ONLY for c in han)
    simplified = sum(c in _SIMPLIFIED_ONLY for c in han)
    if traditional == simplified:
        return None
    return TRADITIONAL if traditional > simplified else SIMPLIFIED


def refusal(language: str) -> str:
    """The refusal in ``language`` (English for one we do not write)."""
    return REFUSALS.get(language, REFUSALS[ENGLISH])  # type: ignore[call-overload]


def no_passages(language: str) -> str:
    """ "Nothing readable matched" in ``language`` (English for one we do not write)."""
    return NO_PASSAGES.get(language, NO_PASSAGES[ENGLISH])  # type: ignore[call-overload]


def sources_heading(language: str) -> str:
    return SOURCES_HEADING.get(language, SOURCES_HEADING[ENGLISH])  # type: ignore[call-overload]
