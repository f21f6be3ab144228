"""The portal's catalogue and the choice of language (no server needed): Simplified,
Traditional (converted from it) and English."""

from __future__ import annotations

import pytest

from api.web import i18n


@pytest.mark.parametrize("chinese_language", [i18n.CHINESE, i18n.TRADITIONAL, i18n.HONG_KONG])
def test_every_key_exists_in_every_language(chinese_language: str) -> None:
    english, chinese = i18n.CATALOGUE[i18n.ENGLISH], i18n.CATALOGUE[chinese_language]
    assert english.keys() == chinese.keys()
    for key in english:
        # The same placeholders on both sides, so formatting never fails in one language.
        assert sorted(_fields(english[key])) == sorted(_fields(chinese[key])), key


def _fields(text: str) -> list[str]:
    import string

    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", i18n.CHINESE),
        ("zh-TW", i18n.TRADITIONAL),
        ("zh-Hant-TW", i18n.TRADITIONAL),
        ("zh-HK", i18n.HONG_KONG),
        ("zh-MO", i18n.HONG_KONG),
        ("zh-Hant-HK", i18n.HONG_KONG),
        ("zh-Hant-MO", i18n.HONG_KONG),
        ("zh-hk,zh;q=0.9", i18n.HONG_KONG),
        ("zh-Hant", i18n.TRADITIONAL),  # Taiwan's words: CLDR's likely region for zh-Hant
        ("zh-Hant-CN", i18n.TRADITIONAL),
        ("zh-HK;q=0.5, zh-TW;q=0.9", i18n.TRADITIONAL),
        ("zh-TW;q=0.5, zh-HK;q=0.9", i18n.HONG_KONG),
        ("zh-hant-tw,zh;q=0.9", i18n.TRADITIONAL),
        ("zh-Hans-HK", i18n.CHINESE),
        ("zh-SG", i18n.CHINESE),
        ("zh-CN;q=0.5, zh-TW;q=0.9", i18n.TRADITIONAL),
        ("zh-TW;q=0.5, zh-CN;q=0.9", i18n.CHINESE),
        ("zh-TW;q=0, zh-CN;q=0.1", i18n.CHINESE),
        ("en, zh-HK;q=0.5", i18n.ENGLISH),
        ("en-US,en;q=0.9", i18n.ENGLISH),
        ("fr-FR, zh;q=0.5, en;q=0.4", i18n.CHINESE),
        ("en;q=0.2, zh;q=0.7", i18n.CHINESE),
        ("de, fr", None),
        ("zh;q=0, en", i18n.ENGLISH),
        ("", None),
        ("x" * 5000, None),
        (";q=;;,,", None),
    ],
)
def test_accept_language(header: str, expected: str | None) -> None:
    assert i18n.from_accept_language(header) == expected


def test_the_switch_beats_the_cookie_which_beats_the_browser() -> None:
    assert i18n.pick("en", "zh-CN", "zh") == i18n.ENGLISH
    assert i18n.pick(None, "zh-CN", "en") == i18n.CHINESE
    assert i18n.pick("klingon", None, "zh-CN") == i18n.CHINESE
    assert i18n.pick(None, None, None) == i18n.ENGLISH
    assert i18n.pick("zh-Hant", "zh-CN", "en") == i18n.TRADITIONAL
    assert i18n.pick(None, "zh-Hant", "zh-CN") == i18n.TRADITIONAL
    assert i18n.pick(None, "zh-CN", "zh-TW") == i18n.CHINESE  # a remembered choice stands
    assert i18n.pick(None, "zh-HK", "zh-TW") == i18n.HONG_KONG


def test_an_organisations_chinese_is_in_the_script_the_browser_asks_for() -> None:
    assert i18n.pick(None, None, "zh-TW", organisation=i18n.CHINESE) == i18n.TRADITIONAL
    assert i18n.pick(None, None, "en, zh-HK;q=0.3", organisation=i18n.CHINESE) == (i18n.HONG_KONG)
    assert i18n.pick(None, None, "zh-Hant", organisation=i18n.CHINESE) == i18n.TRADITIONAL
    assert i18n.pick(None, None, "zh-CN", organisation=i18n.CHINESE) == i18n.CHINESE
    assert i18n.pick(None, None, "fr", organisation=i18n.CHINESE) == i18n.CHINESE
    assert i18n.pick(None, None, "zh-TW", organisation=i18n.ENGLISH) == i18n.ENGLISH


def test_the_switchs_chinese_is_the_readers() -> None:
    assert i18n.switch(i18n.TRADITIONAL, "zh-TW") == {"zh-Hant": "中文", "en": "English"}
    assert i18n.switch(i18n.ENGLISH, "en, zh-TW;q=0.5") == {"zh-Hant": "中文", "en": "English"}
    assert i18n.switch(i18n.ENGLISH, "en, zh-HK;q=0.5") == {"zh-HK": "中文", "en": "English"}
    assert i18n.switch(i18n.HONG_KONG, "zh-TW") == {"zh-HK": "中文", "en": "English"}
    assert i18n.switch(i18n.CHINESE, "zh-TW") == {"zh-CN": "中文", "en": "English"}
    assert i18n.switch(i18n.ENGLISH, "en") == {"zh-CN": "中文", "en": "English"}


def test_text_formats_in_each_language() -> None:
    assert i18n.text(i18n.CHINESE, "locked", minutes=15) == "登录失败次数过多，请 15 分钟后再试。"
    assert "15 minutes" in i18n.text(i18n.ENGLISH, "locked", minutes=15)
    assert i18n.text(i18n.TRADITIONAL, "locked", minutes=15) == (
        "登入失敗次數過多，請 15 分鐘後再試。"
    )


def test_traditional_words_are_the_simplified_ones_converted() -> None:
    simplified, traditional = i18n.CATALOGUE[i18n.CHINESE], i18n.CATALOGUE[i18n.TRADITIONAL]
    changed = [key for key in simplified if simplified[key] != traditional[key]]
    assert len(changed) > len(simplified) // 2  # most sentences hold a character that differs
    assert traditional["nav_documents"] == "文件"  # Taiwan's word
