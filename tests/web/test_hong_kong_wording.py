"""Readers in Hong Kong and Macau read Hong Kong's Traditional, not Taiwan's: zh-HK was given
Taiwan's words (使用者, 軟體, 伺服器, 金鑰), which Hong Kong does not write (用户, 軟件, 服務器,
密鑰). One rule chooses, for the pages, the API's messages and the widget alike:
zh-TW, zh-Hant-TW and a plain zh-Hant read Taiwan's words; zh-HK, zh-MO, zh-Hant-HK and
zh-Hant-MO Hong Kong's forms and words; Simplified and English are unchanged."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api.reasons import _PATTERNS, in_script, localize
from api.web import i18n
from core.text_forms import to_hong_kong_wording
from tests.live import ThreadServer
from tests.support import make_settings

# Taiwan's words, which a Hong Kong page must not show, and the Simplified forms, which no
# Traditional page may show.
TAIWAN_ONLY = ("使用者", "軟體", "伺服器", "網路", "資料庫", "記憶體", "程式", "金鑰", "裡", "著")
_TAIWAN = re.compile("|".join(TAIWAN_ONLY))
# Mainland words that both Taiwan and Hong Kong write otherwise.
MAINLAND = ("登錄", "登录", "默認", "文檔", "賬號", "賬户", "壓縮包", "視頻")
_MAINLAND = re.compile("|".join(MAINLAND))

TAGS = {
    "zh-TW": i18n.TRADITIONAL,
    "zh-Hant-TW": i18n.TRADITIONAL,
    "zh-Hant": i18n.TRADITIONAL,
    "zh-HK": i18n.HONG_KONG,
    "zh-MO": i18n.HONG_KONG,
    "zh-Hant-HK": i18n.HONG_KONG,
    "zh-Hant-MO": i18n.HONG_KONG,
    "zh-Hans-HK": i18n.CHINESE,
    "zh-CN": i18n.CHINESE,
    "zh": i18n.CHINESE,
    "en-HK": i18n.ENGLISH,
}


@pytest.mark.parametrize(("tag", "language"), TAGS.items())
def test_one_rule_chooses_the_wording(tag: str, language: str) -> None:
    assert i18n.supported(tag) == language
    assert i18n.from_accept_language(f"{tag},en;q=0.1") == language


def test_the_widget_reads_tags_by_the_same_rule() -> None:
    """static/widget.js mirrors ``i18n.supported`` (a browser reads the embedding page's
    tag): its function, run by node on every tag above, agrees."""
    source = (Path(i18n.__file__).parent / "static" / "widget.js").read_text(encoding="utf-8")
    sets = re.findall(r"  const (?:TRADITIONAL|HONG_KONG) = new Set\(.*?\);\n", source)
    function = re.search(r"  function languageOf\(tag\) \{.*?\n  \}\n", source, re.S)
    assert len(sets) == 2 and function is not None
    script = "".join(sets) + function.group(0)
    script += f"console.log(JSON.stringify({json.dumps(list(TAGS))}.map(languageOf)));"
    out = subprocess.run(["node", "-e", script], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == list(TAGS.values())


def test_the_hong_kong_catalogue_holds_neither_taiwans_nor_mainland_words() -> None:
    hong_kong = i18n.CATALOGUE[i18n.HONG_KONG]
    assert {k: w for k, w in hong_kong.items() if _TAIWAN.search(w)} == {}
    assert {k: w for k, w in hong_kong.items() if _MAINLAND.search(w)} == {}
    assert hong_kong["sign_in_title"] == "登入"
    assert hong_kong["username"] == "用户名"  # Taiwan: 使用者名稱
    assert hong_kong["nav_documents"] == "文件"
    assert i18n.CATALOGUE[i18n.TRADITIONAL]["username"] == "使用者名稱"
    assert i18n.CATALOGUE[i18n.CHINESE]["username"] == "用户名"


def test_hong_kong_forms_and_words() -> None:
    assert to_hong_kong_wording("软件里的服务器着火了") == "軟件裏的服務器着火了"
    assert to_hong_kong_wording("登录后上传文档或文件，默认设置") == (
        "登入後上傳文件或檔案，預設設定"
    )
    assert to_hong_kong_wording("Sign in 登录 2026") == "Sign in 登入 2026"


def test_the_apis_messages_follow_the_rule() -> None:
    hong_kong = [in_script(template, i18n.HONG_KONG) for _, template in _PATTERNS]
    assert [t for t in hong_kong if _TAIWAN.search(t) or _MAINLAND.search(t)] == []
    empty = "报告.txt is empty"  # the caller's file name stays as sent, in any script
    assert localize(empty, i18n.HONG_KONG) == "报告.txt 是空檔案"
    assert localize(empty, i18n.TRADITIONAL) == "报告.txt 是空檔案"
    assert localize(empty, i18n.CHINESE) == "报告.txt 是空文件"
    assert localize(empty, i18n.ENGLISH) == empty
    refused = "only a tenant admin may do this"
    assert localize(refused, i18n.HONG_KONG) == "只有租户管理員可以執行此操作"
    assert localize(refused, i18n.TRADITIONAL) == "只有租戶管理員可以執行此操作"
    assert localize(refused, i18n.CHINESE) == "只有租户管理员可以执行此操作"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[ThreadServer]:  # type: ignore[no-untyped-def]
    with ThreadServer(make_settings(tmp_path_factory.mktemp("hong-kong-wording"))) as live:
        yield live


@pytest.mark.parametrize(
    ("tag", "lang", "shown", "not_shown"),
    [
        ("zh-HK", "zh-HK", "用户名", "使用者名稱"),
        ("zh-MO,en;q=0.5", "zh-HK", "用户名", "使用者名稱"),
        ("zh-Hant-HK", "zh-HK", "用户名", "使用者名稱"),
        ("zh-TW", "zh-Hant", "使用者名稱", "用户名"),
        ("zh-Hant", "zh-Hant", "使用者名稱", "用户名"),
        ("zh-CN", "zh-CN", "用户名", "登入"),
        ("en-HK", "en", "Username", "用户名"),
    ],
)
def test_the_sign_in_page_and_an_api_message_in_the_readers_wording(
    server: ThreadServer, tag: str, lang: str, shown: str, not_shown: str
) -> None:
    with httpx.Client(base_url=server.url, headers={"Accept-Language": tag}) as client:
        page = client.get("/login")
        assert page.status_code == 200, page.text
        assert f'<html lang="{lang}">' in page.text
        assert shown in page.text and not_shown not in page.text
        # A remembered choice of Hong Kong's wording stands whatever the browser says.
        remembered = client.get("/login", cookies={i18n.LANGUAGE_COOKIE: i18n.HONG_KONG})
        assert '<html lang="zh-HK">' in remembered.text
        missing = client.get("/v1/documents")
    assert missing.status_code == 401
    expected = {"zh-HK": "缺少 API 密鑰", "zh-Hant": "缺少 API 金鑰", "zh-CN": "缺少 API 密钥"}
    assert missing.json()["detail"].startswith(expected.get(lang, "missing API key"))
