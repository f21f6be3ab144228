"""An upload's multipart parts read as their sender meant, over real HTTP: a file named by
RFC 5987 ``filename*`` keeps that name (it was read as a text field), ``filename*`` wins over
a plain ``filename`` (RFC 6266); a text field that is not UTF-8 is refused naming the field
(it was stored garbled, read as Latin-1); a file name with a NUL or another control
character is refused for what is wrong with it (a NUL got the path-separator reason)."""

from __future__ import annotations

from urllib.parse import quote

import httpx
import pytest

from tests.api.world import World
from tests.live import ThreadServer
from tests.support import make_settings

ZH = {"Accept-Language": "zh-CN"}
BOUNDARY = "zhiku-test-boundary"
CONTENT_TYPE = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("upload-parts"), database={"url": pg_url})
    with ThreadServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def ann(server: ThreadServer) -> httpx.Client:
    with World(server).client("ann") as client:
        yield client


def body(*parts: tuple[bytes, bytes]) -> bytes:
    """A multipart body of (Content-Disposition parameters, content) parts."""
    out = b""
    for disposition, content in parts:
        out += f"--{BOUNDARY}\r\n".encode()
        out += b"Content-Disposition: form-data; " + disposition + b"\r\n\r\n" + content + b"\r\n"
    return out + f"--{BOUNDARY}--\r\n".encode()


def extended(name: str) -> bytes:
    return f"filename*=UTF-8''{quote(name, safe='')}".encode()


def post(client: httpx.Client, raw: bytes, headers: dict[str, str] | None = None) -> httpx.Response:
    return client.post("/v1/documents", content=raw, headers={**CONTENT_TYPE, **(headers or {})})


@pytest.mark.parametrize("name", ["季度报告 2026.txt", "会议纪要（草稿）#1.md", "résumé.txt"])
def test_a_name_sent_only_as_filename_star_is_kept_exactly(ann: httpx.Client, name: str) -> None:
    r = post(ann, body((b'name="files"; ' + extended(name), "正文。".encode())))
    assert r.status_code == 202, r.text
    (doc,) = r.json()["data"]
    assert doc["filename"] == name


def test_filename_star_wins_over_a_plain_filename(ann: httpx.Client) -> None:
    for disposition in (
        b'name="files"; filename="____.txt"; ' + extended("采购合同.txt"),
        b'name="files"; ' + extended("采购合同.txt") + b'; filename="____.txt"',
    ):
        r = post(ann, body((disposition, "合同正文。".encode())))
        assert r.status_code == 202, r.text
        assert [d["filename"] for d in r.json()["data"]] == ["采购合同.txt"]


def test_a_plain_utf8_filename_is_still_read(ann: httpx.Client) -> None:
    r = post(ann, body((b'name="files"; filename="' + "报告.txt".encode() + b'"', b"text")))
    assert r.status_code == 202, r.text
    assert [d["filename"] for d in r.json()["data"]] == ["报告.txt"]


@pytest.mark.parametrize(
    "value", [b"UTF-8''%E8%B5%84%E6%96%99%ZZ.txt", b"UTF-8''%FF%FE.txt", b"no-quotes.txt"]
)
def test_an_unreadable_filename_star_is_refused(ann: httpx.Client, value: bytes) -> None:
    raw = body((b'name="files"; filename*=' + value, b"text"))
    r = post(ann, raw)
    assert r.status_code == 400, r.text
    assert "filename*" in r.json()["detail"]
    r = post(ann, raw, ZH)
    assert r.status_code == 400
    assert "百分号编码" in r.json()["detail"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("tags", b"\xff\xfe\xb1"), ("access", b'{"everyone": true, "x": "\xc3\x28"}')],
)
def test_a_text_field_that_is_not_utf8_is_refused_by_name(
    ann: httpx.Client, field: str, value: bytes
) -> None:
    raw = body(
        (f'name="{field}"'.encode(), value),
        (b'name="files"; filename="a.txt"', b"some text"),
    )
    r = post(ann, raw)
    assert r.status_code == 400, r.text
    assert r.json()["detail"] == f"form field '{field}' is not valid utf-8 text"
    r = post(ann, raw, ZH)
    assert r.status_code == 400
    assert r.json()["detail"] == f"表单字段 '{field}' 不是有效的 utf-8 文本"
    listed = ann.get("/v1/documents", params={"limit": 500}).json()["data"]
    assert all("\ufffd" not in "".join(d["tags"]) for d in listed)


def test_utf8_tags_are_kept(ann: httpx.Client) -> None:
    raw = body(
        (b'name="tags"', "财务,二〇二六".encode()),
        (b'name="files"; filename="t.txt"', b"tagged"),
    )
    r = post(ann, raw)
    assert r.status_code == 202, r.text
    assert r.json()["data"][0]["tags"] == ["财务", "二〇二六"]


def test_a_filename_star_part_is_limited_as_a_file_not_a_field(ann: httpx.Client) -> None:
    """The guard's stream watch counts it as a file: a field's 256 KiB cap does not apply."""
    text = ("第一章 总则。" * 40_000).encode()  # ~0.8 MB
    r = post(ann, body((b'name="files"; ' + extended("制度汇编.txt"), text)))
    assert r.status_code == 202, r.text[:300]
    assert [d["filename"] for d in r.json()["data"]] == ["制度汇编.txt"]


@pytest.mark.parametrize(
    "name", ["a\x00b.txt", "report\x00.txt", "line\nbreak.txt", "bell\x07.txt"]
)
def test_a_control_character_in_a_file_name_is_refused_as_such(
    ann: httpx.Client, name: str
) -> None:
    for headers, expected in (({}, "must not contain control characters"), (ZH, "控制字符")):
        for disposition in (
            b'name="files"; filename="' + name.encode() + b'"',
            b'name="files"; ' + extended(name),
        ):
            raw = body((disposition, b"text"), (b'name="files"; filename="ok.txt"', b"fine"))
            r = post(ann, raw, headers)
            assert r.status_code == 202, r.text
            (error,) = r.json()["errors"]
            assert error["status_code"] == 400
            assert expected in error["detail"], error
            assert "path separators" not in error["detail"]
