"""One written form for matching text: full-width forms folded, Traditional Chinese as Simplified.

Chinese text arrives in several forms that mean the same thing: full-width letters, digits and
punctuation (ＡＢＣ１２３，？) from Chinese input methods, and Traditional or Simplified
characters (龍井茶產於杭州 / 龙井茶产于杭州). Keyword search only matches what is written
identically, so the sparse encoder reduces documents and queries alike to :func:`search_form`
before segmenting them, and a Traditional query finds a Simplified document and the reverse.

Traditional → Simplified is OpenCC's ``t2s``, phrase-aware (乾隆 stays, 乾燥 becomes 干燥).
Its ``tw2sp`` also rewrites Taiwan's vocabulary as the mainland's (軟體 → 软件) but rewrites
Simplified text too (向量 → 矢量, 建立 → 创建): on xquad-r-zh its Taiwan-worded questions gained
little (see ``docs/benchmarks.md``, "Chinese query normalisation"), so characters and phrases
only. The package was chosen by measurement: converting xquad-r-zh's 1,192 passages to
Traditional and back, the ``opencc`` wheel (C++, Apache-2.0) restored 99.5% of them exactly at
~2.7M characters/s; ``opencc-purepy`` was as correct at ~0.8M/s, ``opencc-py`` ~0.14M/s (and
installs the same ``opencc`` module name), ``zhconv`` is GPL, ``hanziconv`` has no wheel.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Iterable
from typing import Literal

import opencc

# Han ideographs: extension A, the unified block, compatibility ideographs, extensions B and on.
HAN_CLASS = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
HAN_CHAR = re.compile(f"[{HAN_CLASS}]")
HAN_RUN = re.compile(f"[{HAN_CLASS}]+")
# A word of Latin letters, accented ones included: what a query's or a paragraph's language is
# weighed by beside its Han characters.
LATIN_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+")

# OpenCC's configuration for search; others (``tw2sp.json``) are for comparison in bench/.
SEARCH_CONVERSION = "t2s.json"

_lock = threading.Lock()
_converters: dict[str, opencc.OpenCC] = {}


def _converter(config: str) -> opencc.OpenCC:
    """OpenCC's dictionaries for ``config``, loaded once per process on first use (~50 ms).
    A converter is safe to share between threads."""
    converter = _converters.get(config)
    if converter is None:
        with _lock:
            converter = _converters.get(config)
            if converter is None:
                converter = _converters[config] = opencc.OpenCC(config)
    return converter


def fold_width(text: str) -> str:
    """Full-width letters, digits and punctuation as their ASCII forms (NFKC): ``ｉＰｈｏｎｅ１５``
    is ``iPhone15``. Also folds compatibility ideographs into the unified ones."""
    return text if text.isascii() else unicodedata.normalize("NFKC", text)


def to_simplified(text: str, config: str = SEARCH_CONVERSION) -> str:
    """``text`` with Traditional Chinese written as Simplified; anything else is left as is."""
    if text.isascii() or not HAN_CHAR.search(text):
        return text
    return _converter(config).convert(text)


def to_traditional(text: str) -> str:
    """``text`` with Simplified Chinese written as Traditional (OpenCC's ``s2tw``, phrase-aware:
    后天 → 後天 but 皇后 stays); anything else is left as is. ``s2tw`` rather than ``s2t``:
    the character forms readers in Taiwan and Hong Kong write (為, 裡), not OpenCC's own
    standard (爲, 裏); words are not localised (文檔 stays, as ``s2twp`` would make it 文件)."""
    return to_simplified(text, "s2tw.json")


def to_hong_kong_forms(text: str) -> str:
    """``text`` with Simplified Chinese written in Hong Kong's Traditional character forms
    (OpenCC's ``s2hk``: 裏, 着, 户 where :func:`to_traditional` writes Taiwan's 裡, 著, 戶);
    words are not localised. For a model's answer to a reader in Hong Kong or Macau."""
    return to_simplified(text, "s2hk.json")


def to_taiwan_wording(text: str) -> str:
    """Our own Simplified interface words as readers in Taiwan write them (OpenCC's
    ``s2twp``: the forms of :func:`to_traditional` and the words too, 登录 → 登入, 文件 → 檔案,
    信息 → 資訊, 用户 → 使用者, 默认 → 預設). Only for text we wrote: a reader's or a
    document's words are never localised (a search term or a quotation must stay as written)."""
    taiwan = to_simplified(text, "s2twp.json")
    for mainland, local in _TAIWAN_WORDS:
        taiwan = taiwan.replace(mainland, local)
    return taiwan


# Words ``s2twp`` leaves in their mainland form (its phrase list has no entry for them).
_TAIWAN_WORDS = (("賬戶", "帳戶"), ("賬號", "帳號"), ("壓縮包", "壓縮檔"), ("郵箱", "信箱"))


def to_hong_kong_wording(text: str) -> str:
    """Our own Simplified interface words as readers in Hong Kong and Macau write them:
    OpenCC's ``s2hk`` for the character forms (Hong Kong's standard: 裏, 着, 户, not Taiwan's
    裡, 著, 戶), then the words Hong Kong writes otherwise than the mainland. OpenCC has no
    Hong Kong phrase table (``s2hk`` converts characters only), and Taiwan's (``s2twp``) is
    wrong there: Hong Kong writes 軟件, 網絡, 用戶, 伺服器 is Taiwan's (服務器 in Hong Kong).
    Only for text we wrote, as :func:`to_taiwan_wording`."""
    hong_kong = to_hong_kong_forms(text)
    for mainland, local in _HONG_KONG_WORDS:
        hong_kong = hong_kong.replace(mainland, local)
    return hong_kong


# The mainland words Hong Kong writes otherwise, in order: 文件 (a file) becomes 檔案 before
# 文檔 (a document) becomes 文件, as ``s2twp`` does for Taiwan.
_HONG_KONG_WORDS = (
    ("文件", "檔案"),
    ("文檔", "文件"),
    ("登錄", "登入"),
    ("註銷", "登出"),
    ("信息", "資訊"),
    ("默認", "預設"),
    ("賬户", "帳户"),
    ("賬號", "帳號"),
    ("壓縮包", "壓縮檔"),
    ("郵箱", "電郵"),
    ("視頻", "影片"),
    ("鏈接", "連結"),
    ("搜索", "搜尋"),
    ("設置", "設定"),
)


def search_form(text: str) -> str:
    """The form both documents and queries are matched in: :func:`fold_width`, then
    :func:`to_simplified`. Case is left to the caller (the tokenizer lowercases)."""
    return to_simplified(fold_width(text))


def chinese_script(text: str) -> Literal["traditional", "simplified"] | None:
    """Which script ``text``'s Chinese is written in: ``"traditional"`` when converting it to
    Simplified changes it, ``"simplified"`` for other Han text, None without Han characters.

    Characters common to both scripts (most of them) count as Simplified, so a short question
    such as 你是谁 reads as Simplified; an answer should then follow the question's script.
    """
    folded = fold_width(text)
    if not HAN_CHAR.search(folded):
        return None
    return "traditional" if to_simplified(folded) != folded else "simplified"


def name_forms(text: str) -> set[str]:
    """``text`` as typed, and with its Chinese written in each script (full-width letters as
    ASCII): the forms a name search matches titles and file names in."""
    folded = fold_width(text)
    return {text, folded, to_simplified(folded), to_traditional(folded)}


# What separates tags in one text: the comma, and the full-width comma and the enumeration
# comma (、) a Chinese input method types for it.
TAG_SEPARATORS = re.compile("[,\uff0c\u3001]")


def stored_tags(tags: Iterable[str]) -> list[str]:
    """Tags as they are stored: each split at the commas people type, full-width letters,
    digits and punctuation as ASCII (:func:`fold_width`: ＨＲ is HR, 人事，２０２６ is the two
    tags 人事 and 2026), trimmed, blank ones dropped, each kept once in the order first given.
    The script is kept as written (a filter matches either, :func:`tag_forms`), and so is case:
    HR and hr stay two tags, as they always were. Migration 0013 applies this to tags stored
    before, so the same function must keep holding for them."""
    folded = (fold_width(part).strip() for tag in tags for part in TAG_SEPARATORS.split(tag))
    return list(dict.fromkeys(tag for tag in folded if tag))


def tag_forms(tag: str) -> list[str]:
    """The tags a tag filter matches: ``tag`` in either Chinese script, full-width letters as
    ASCII (公開 finds 公开, ＶＩＰ finds VIP), as a name search matches names; tags are stored
    folded (:func:`stored_tags`), so ＶＩＰ typed at upload is found by VIP too. Sorted, so a
    filter built from them is the same each time."""
    return sorted(name_forms(tag.strip()))
