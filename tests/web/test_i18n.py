"""The portal's catalogue and the choice of language (no server needed)."""

from __future__ import annotations

import pytest

from api.web import i18n


def test_every_key_exists_in_both_languages() -> None:
    english, chinese = i18n.CATALOGUE[i18n.ENGLISH], i18n.CATALOGUE[i18n.CHINESE]
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
        ("zh-TW", i18n.CHINESE),
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


def test_text_formats_in_each_language() -> None:
    assert i18n.text(i18n.CHINESE, "locked", minutes=15) == "登录失败次数过多，请 15 分钟后再试。"
    assert "15 minutes" in i18n.text(i18n.ENGLISH, "locked", minutes=15)
