"""The server's reasons in the caller's language: a Chinese page (or an ``Accept-Language:
zh`` client) reads why a file failed or a request was refused in Chinese, nested reasons
included, in Traditional characters for a Traditional tag (zh-TW, zh-HK) with the caller's
own values left as sent; everyone else reads the English they always did; an unknown sentence
stays as it is rather than being guessed at."""

from __future__ import annotations

import httpx
import pytest

from api.reasons import localize
from api.web.i18n import CHINESE, ENGLISH
from tests.api.world import World, upload, wait_terminal
from tests.live import ThreadServer
from tests.support import make_settings

CORRUPT_PDF = b"%PDF-1.7\n" + bytes(range(256)) * 20


@pytest.mark.parametrize(
    ("english", "chinese"),
    [
        (
            "the file could not be parsed: corrupt PDF: the file is damaged or incomplete "
            "(it may have been truncated)",
            "无法解析该文件：PDF 已损坏或不完整（可能被截断）",
        ),
        (
            "the file could not be parsed: could not parse 报告.docx as DOCX: the file is "
            "damaged or incomplete (it may have been truncated or corrupted)",
            "无法解析该文件：无法将 报告.docx 解析为 DOCX 文件："
            "文件已损坏或不完整（可能被截断或损坏）",
        ),
        ("empty.txt is empty", "empty.txt 是空文件"),
        ("no text found in scan.png", "scan.png 中没有找到文字"),
        (
            "unsupported type: .wav (binary data (audio/x-wav))",
            "不支持的文件类型：.wav（二进制数据（audio/x-wav））",
        ),
        (
            "you already have 2 answers being generated; wait for one to finish",
            "您已有 2 个回答正在生成，请等待其中一个完成",
        ),
        (
            "the PDF is password-protected; remove the password",
            "PDF 受密码保护，请去除密码后再上传",
        ),
    ],
)
def test_known_reasons_read_in_chinese(english: str, chinese: str) -> None:
    assert localize(english, CHINESE) == chinese
    assert localize(english, ENGLISH) == english


def test_an_unknown_reason_stays_as_it_is() -> None:
    assert localize("something nobody wrote a pattern for", CHINESE) == (
        "something nobody wrote a pattern for"
    )
    assert localize(None, CHINESE) is None


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("reasons"), database={"url": pg_url})
    with ThreadServer(settings) as srv:
        yield srv


def test_reasons_over_http_follow_the_callers_language(server: ThreadServer) -> None:
    world = World(server)
    with world.client("ann") as ann:
        r = upload(ann, [("坏.pdf", CORRUPT_PDF), ("空.txt", b"")])
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["errors"][0]["detail"] == "空.txt is empty"  # no language asked: English
        doc_id = body["data"][0]["id"]
        assert wait_terminal(ann, doc_id)["status"] == "failed"
        english = ann.get(f"/v1/documents/{doc_id}").json()["error"]
        chinese = ann.get(f"/v1/documents/{doc_id}", headers={"Accept-Language": "zh-CN"}).json()
        assert english.startswith("the file could not be parsed: corrupt PDF")
        assert chinese["error"].startswith("无法解析该文件：PDF 已损坏或不完整")
        listed = ann.get("/v1/documents", headers={"Accept-Language": "zh-CN,zh;q=0.9"}).json()
        assert listed["data"][0]["error"] == chinese["error"]
        refused = ann.post(
            "/v1/documents",
            files=[("files", ("空.txt", b""))],
            headers={"Accept-Language": "zh-CN"},
        )
        assert refused.json()["errors"][0]["detail"] == "空.txt 是空文件"
    # Refusals before any route (the guard) and in a route (a domain error) alike.
    missing = httpx.get(server.url + "/v1/documents", headers={"Accept-Language": "zh-CN"})
    assert missing.status_code == 401 and missing.json()["detail"].startswith("缺少 API 密钥")
    with world.client("ann") as ann:
        gone = ann.get(
            "/v1/documents/00000000-0000-0000-0000-000000000000",
            headers={"Accept-Language": "zh-CN"},
        )
        assert gone.status_code == 404 and gone.json()["detail"] == "找不到该文档", gone.text


ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
# Taiwan's words for zh-TW (金鑰, 字元, 租戶), Hong Kong's forms and words for zh-HK (密鑰,
# 字符, 租户).
TRADITIONAL_TAGS = [
    ("zh-TW,zh;q=0.9", ("缺少 API 金鑰", "最多 200 個字元", "只有租戶管理員可以執行此操作")),
    ("zh-HK", ("缺少 API 密鑰", "最多 200 個字符", "只有租户管理員可以執行此操作")),
]


@pytest.mark.parametrize(("tag", "words"), TRADITIONAL_TAGS)
def test_traditional_callers_read_traditional_and_their_own_values_unchanged(
    server: ThreadServer, tag: str, words: tuple[str, str, str]
) -> None:
    world = World(server)
    headers = {"Accept-Language": tag}
    no_key, too_long, admins_only = words
    missing = httpx.get(server.url + "/v1/documents", headers=headers)
    assert missing.status_code == 401 and missing.json()["detail"].startswith(no_key)
    with world.client("ann") as ann:
        gone = ann.get("/v1/documents/00000000-0000-0000-0000-000000000000", headers=headers)
        assert gone.status_code == 404 and gone.json()["detail"] == "找不到該文件", gone.text
        # The file name is the caller's: written in Simplified, it stays so.
        refused = ann.post("/v1/documents", files=[("files", ("报告.txt", b""))], headers=headers)
        assert refused.json()["errors"][0]["detail"] == "报告.txt 是空檔案", refused.text
        invalid = ann.post("/v1/admin/users", json={"name": "x" * 201}, headers=headers)
        assert invalid.status_code == 422
        assert invalid.json()["detail"][0]["msg"].startswith(too_long), invalid.text
    with world.client("bob") as bob:
        denied = bob.get("/v1/admin/users", headers=headers)
        assert denied.status_code == 403
        assert denied.json()["detail"] == admins_only


@pytest.mark.parametrize(
    ("tag", "lang", "words", "not_words"),
    [
        ("zh-TW", "zh-Hant", ["登入", "使用者名稱", "密碼", "組織"], ["用户名", "密码", "登錄"]),
        ("zh-HK,en;q=0.5", "zh-HK", ["登入", "用户名", "密碼", "組織"], ["使用者", "密码", "登錄"]),
        ("zh-Hant", "zh-Hant", ["登入", "使用者名稱", "密碼", "組織"], ["用户名", "密码"]),
        ("zh-CN", "zh-CN", ["登录", "用户名", "密码", "组织"], ["用戶名", "密碼"]),
    ],
)
def test_the_portal_page_is_in_the_callers_chinese(
    server: ThreadServer, tag: str, lang: str, words: list[str], not_words: list[str]
) -> None:
    page = httpx.get(server.url + "/login", headers={"Accept-Language": tag})
    assert page.status_code == 200, page.text
    assert f'<html lang="{lang}">' in page.text
    assert all(word in page.text for word in words)
    assert not any(word in page.text for word in not_words)
    # The switch's Chinese is the reader's own, shown as the current language.
    assert f'<span aria-current="true" lang="{lang}">中文</span>' in page.text
    english = httpx.get(server.url + "/login?lang=en", headers={"Accept-Language": tag})
    assert f'<a href="?lang={lang}" lang="{lang}" hreflang="{lang}">中文</a>' in english.text
    assert 'lang="en">English</span>' in english.text


def test_validation_errors_follow_the_callers_language(server: ThreadServer) -> None:
    world = World(server)
    with world.client("ann") as ann:
        cases = [
            ({"name": "x" * 201}, "string_too_long", "最多 200 个字符"),
            ({}, "missing", "缺少必填字段"),
            ({"name": "名字\x00"}, "value_error", "不能包含控制字符或格式字符"),
            ({"name": "ok", "is_admin": "maybe"}, "bool_parsing", "应为布尔值"),
            ({"name": "ok", "surprise": 1}, "extra_forbidden", "不允许额外的字段"),
        ]
        for body, kind, chinese in cases:
            zh = ann.post("/v1/admin/users", json=body, headers=ZH)
            en = ann.post("/v1/admin/users", json=body)
            assert zh.status_code == en.status_code == 422, zh.text
            zh_error = next(e for e in zh.json()["detail"] if e["type"] == kind)
            en_error = next(e for e in en.json()["detail"] if e["type"] == kind)
            assert zh_error["msg"].startswith(chinese), zh_error
            assert zh_error["loc"] == en_error["loc"]
            assert not any("\u4e00" <= ch <= "\u9fff" for ch in en_error["msg"]), en_error
        # A query parameter that is not an integer, and a malformed JSON body.
        bad_int = ann.get("/v1/documents", params={"limit": "many"}, headers=ZH).json()
        assert bad_int["detail"][0]["msg"].startswith("应为整数"), bad_int
        not_json = ann.post(
            "/v1/admin/users",
            content=b"{not json",
            headers={**ZH, "Content-Type": "application/json"},
        ).json()
        assert not_json["detail"][0]["msg"] == "请求体不是有效的 JSON", not_json


def test_refusals_and_routing_errors_read_in_chinese(server: ThreadServer) -> None:
    world = World(server)
    with world.client("bob") as bob:
        denied = bob.get("/v1/admin/users", headers=ZH)
        assert (
            denied.status_code == 403 and denied.json()["detail"] == "只有租户管理员可以执行此操作"
        )
        assert bob.get("/v1/admin/users").json()["detail"] == "only a tenant admin may do this"
        nowhere = bob.get("/v1/no-such-route", headers=ZH)
        assert nowhere.status_code == 404 and nowhere.json()["detail"] == "未找到"
        assert bob.get("/v1/no-such-route").json()["detail"] == "Not Found"
        wrong = bob.delete("/v1/documents", headers=ZH)
        assert wrong.status_code == 405 and wrong.json()["detail"] == "不支持此请求方法"
    with world.client("ann") as ann:
        me = world.ids["ann"]
        refused = ann.post(f"/v1/admin/users/{me}/disable", headers=ZH)
        assert refused.status_code == 409 and refused.json()["detail"] == "管理员不能停用自己"
