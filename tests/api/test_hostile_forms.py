"""An upload form read as its sender meant it, over real HTTP: its ``charset`` and a
``filename*``'s charset were looked up among all of Python's codecs (``unicode_escape`` made
NUL bytes of ASCII, ``punycode`` raised an error of its own); a field the route does not read,
or one sent twice, was ignored or silently replaced; tags typed with a Chinese input method's
commas were one tag."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.api.hostile import (
    DOC,
    ZH,
    has_chinese,
    multipart,
)

# --- an upload form's charsets


@pytest.mark.parametrize(
    "charset", [b"unicode_escape", b"raw_unicode_escape", b"utf-7", b"punycode", b"rot13", b"x"]
)
def test_a_form_charset_that_is_no_text_charset_is_400(
    hostile_zed: httpx.Client, charset: bytes
) -> None:
    form = multipart(b'name="files"; filename="a\\x00b.txt"', b"hello, world", charset)
    for headers in ({}, ZH):
        r = hostile_zed.post(
            "/v1/documents", content=form["content"], headers={**form["headers"], **headers}
        )  # type: ignore[dict-item]
        assert r.status_code == 400, r.text[:300]
        said = r.json()["detail"]
        assert has_chinese(said) if headers else "UTF-8" in said, said


@pytest.mark.parametrize("charset", ["UTF-8", "utf8", "GB18030", "gbk", "big5"])
def test_a_form_in_utf8_or_a_chinese_charset_is_read(
    hostile_zed: httpx.Client, charset: str
) -> None:
    name = "报告.txt" if charset.lower() != "big5" else "報告.txt"
    form = multipart(
        f'name="files"; filename="{name}"'.encode(charset),
        f"报销须在三十天内提交（{charset}）。".encode(),
        charset.encode(),
    )
    r = hostile_zed.post("/v1/documents", **form)  # type: ignore[arg-type]
    assert r.status_code == 202, r.text[:300]
    assert r.json()["data"][0]["filename"] == name


@pytest.mark.parametrize(
    "name",
    [
        b"unicode_escape''a%5Cx00b.txt",
        b"unicode_escape''a%5Cud800b.txt",
        b"utf-7''a%2B2AA-b.txt",
        b"punycode''a.txt",
        b"rot13''n.txt",
        b"undefined''a.txt",
    ],
)
def test_a_filename_star_in_another_charset_is_400_saying_how_to_send_it(
    hostile_zed: httpx.Client, name: bytes
) -> None:
    form = multipart(b'name="files"; filename*=' + name, b"hello, world")
    for headers in ({}, ZH):
        r = hostile_zed.post(
            "/v1/documents", content=form["content"], headers={**form["headers"], **headers}
        )  # type: ignore[dict-item]
        assert r.status_code == 400, r.text[:300]
        said = r.json()["detail"]
        assert "filename*" in said and (has_chinese(said) if headers else "UTF-8" in said), said


def test_a_filename_star_in_utf8_or_latin1_is_read(hostile_zed: httpx.Client) -> None:
    for name, shown in [
        (b"UTF-8''%E6%8A%A5%E5%91%8A.txt", "报告.txt"),
        (b"ISO-8859-1''caf%E9.txt", "café.txt"),
    ]:
        form = multipart(b'name="files"; filename*=' + name, "报销须在三十天内提交。".encode())
        r = hostile_zed.post("/v1/documents", **form)  # type: ignore[arg-type]
        assert r.status_code == 202, r.text[:300]
        assert r.json()["data"][0]["filename"] == shown


def test_a_misspelt_access_list_in_an_upload_is_400(hostile_zed: httpx.Client) -> None:
    r = hostile_zed.post(
        "/v1/documents",
        files={"files": ("报告.txt", "报销须在三十天内提交。".encode())},
        data={"access": json.dumps({"user": ["u1"]})},
        headers=ZH,
    )
    assert r.status_code == 400 and has_chinese(r.json()["detail"]), r.text[:300]


# --- an upload form's fields


@pytest.mark.parametrize(
    ("fields", "english"),
    [
        ([("owner_id", "someone")], "is not read here"),
        ([("tag", "公开")], "is not read here"),
        ([("tags", "公开"), ("tags", "内部")], "more than once"),
        ([("access", '{"everyone": true}'), ("access", '{"users": []}')], "more than once"),
    ],
)
def test_an_unknown_or_repeated_form_field_is_400_naming_it(
    hostile_zed: httpx.Client, fields: list[tuple[str, str]], english: str
) -> None:
    name = fields[0][0]
    for headers in ({}, ZH):
        r = hostile_zed.post(
            "/v1/documents",
            files=[
                ("files", ("报告.txt", "报销须在三十天内提交。".encode())),
                *[(k, (None, v)) for k, v in fields],
            ],  # type: ignore[list-item]
            headers=headers,
        )
        assert r.status_code == 400, r.text[:300]
        said = r.json()["detail"]
        assert repr(name) in said and (has_chinese(said) if headers else english in said), said
    r = hostile_zed.post(
        f"/v1/documents/{DOC}/versions",
        files=[("file", ("报告.txt", b"x")), ("tags", (None, "公开"))],  # type: ignore[list-item]
    )
    assert r.status_code == 400 and "'tags'" in r.json()["detail"], r.text[:300]


def test_tags_split_on_the_commas_a_chinese_input_method_types(hostile_zed: httpx.Client) -> None:
    r = hostile_zed.post(
        "/v1/documents",
        files={"files": ("制度.txt", "出差住宿标准为每晚六百元。".encode())},
        data={"tags": "公开，内部、机密, HR"},
    )
    assert r.status_code == 202, r.text[:300]
    assert r.json()["data"][0]["tags"] == ["公开", "内部", "机密", "HR"]
