"""Readers in Taiwan read Taiwan's words, not only its character forms: the sign-in page was
titled 登錄 (a mainland term written in Traditional characters) where they write 登入, and the
catalogue and the API's messages held 用戶, 信息, 默認, 網絡, 文檔 (for 使用者, 資訊, 預設, 網路,
文件). The Simplified pages keep their own words."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from api.reasons import _PATTERNS, in_script
from api.web import i18n
from tests.live import ThreadServer
from tests.support import make_settings

# Mainland vocabulary in Traditional characters (and the Simplified forms, which a Traditional
# page must never show at all), with what Taiwan writes instead.
MAINLAND_TERMS = {
    "登錄": "登入",
    "登录": "登入",
    "用戶": "使用者",
    "信息": "資訊",
    "默認": "預設",
    "網絡": "網路",
    "文檔": "文件",
    "軟件": "軟體",
    "數據": "資料",
    "設置": "設定",
    "鏈接": "連結",
    "賬戶": "帳戶",
    "賬號": "帳號",
    "壓縮包": "壓縮檔",
    "視頻": "影片",
    "服務器": "伺服器",
}
_MAINLAND = re.compile("|".join(MAINLAND_TERMS))


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory) -> Iterator[ThreadServer]:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("taiwan-wording"), database={"url": pg_url})
    with ThreadServer(settings) as live:
        yield live


@pytest.mark.parametrize(
    ("tag", "title", "not_shown"),
    [
        ("zh-TW", "登入", "登錄"),
        ("zh-HK", "登入", "登录"),
        ("zh-CN", "登录", "登入"),
        ("en", "Sign in", "登"),
    ],
)
def test_the_sign_in_page_is_titled_in_the_readers_words(
    server: ThreadServer, tag: str, title: str, not_shown: str
) -> None:
    with httpx.Client(base_url=server.url, headers={"Accept-Language": tag}) as client:
        r = client.get("/login")
    assert r.status_code == 200, r.text
    assert f'<h1 id="sign-in-title">{title}</h1>' in r.text
    assert not_shown not in r.text


def test_the_traditional_catalogue_holds_no_mainland_terms() -> None:
    traditional = i18n.CATALOGUE[i18n.TRADITIONAL]
    found = {key: words for key, words in traditional.items() if _MAINLAND.search(words)}
    assert found == {}
    assert traditional["sign_in_title"] == "登入"
    assert traditional["nav_documents"] == "文件"
    assert i18n.CATALOGUE[i18n.CHINESE]["sign_in_title"] == "登录"  # Simplified unchanged


def test_the_apis_traditional_messages_hold_no_mainland_terms() -> None:
    found = [
        in_script(template, i18n.TRADITIONAL)
        for _, template in _PATTERNS
        if _MAINLAND.search(in_script(template, i18n.TRADITIONAL))
    ]
    assert found == []
