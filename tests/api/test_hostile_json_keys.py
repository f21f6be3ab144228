"""A JSON body that names a field twice in one object is refused naming it, over real HTTP:
Python's parser kept the last value and dropped the first without a word, so
``{"everyone": true, "everyone": false}`` was read as the second while a proxy, a log or a
reviewer that reads the first saw the other request (a form field sent twice is refused the
same way: ``test_hostile_forms``). The same name in two objects is no repeat."""

from __future__ import annotations

import httpx
import pytest

from tests.api.hostile import DOC, JSON, TW, ZH, has_chinese
from tests.live import ThreadServer

CASES = [
    ("POST", "/v1/search", b'{"query": "\xe6\x8a\xa5\xe9\x94\x80", "query": "x"}', "query"),
    (
        "POST",
        "/v1/search",
        b'{"query": "x", "filters": {"tags": ["a"], "tags": ["b"]}}',
        "tags",
    ),
    ("POST", "/v1/chat", b'{"message": "x", "stream": false, "stream": true}', "stream"),
    (
        "PATCH",
        f"/v1/documents/{DOC}/access",
        b'{"everyone": true, "everyone": false}',
        "everyone",
    ),
    (
        "POST",
        "/v1/chat/completions",
        b'{"model": "zhiku", "messages": [{"role": "user", "content": "a", "content": "b"}]}',
        "content",
    ),
]


def said(r: httpx.Response) -> str:
    body = r.json()
    return body["error"]["message"] if "error" in body else body["detail"]


@pytest.mark.parametrize(("method", "path", "raw", "name"), CASES)
def test_a_field_named_twice_in_one_object_is_400_naming_it(
    hostile_zed: httpx.Client, method: str, path: str, raw: bytes, name: str
) -> None:
    for headers in ({}, ZH, TW):
        r = hostile_zed.request(method, path, content=raw, headers={**JSON, **headers})
        assert r.status_code == 400, (path, r.status_code, r.text[:300])
        words = said(r)
        assert repr(name) in words, words
        assert has_chinese(words) if headers else "more than once" in words, words


@pytest.mark.parametrize(("method", "path", "raw", "name"), CASES[:1])
def test_without_a_key_it_is_401_first(
    hostile_server: ThreadServer, method: str, path: str, raw: bytes, name: str
) -> None:
    r = httpx.request(method, hostile_server.url + path, content=raw, headers=JSON)
    assert r.status_code == 401, r.text[:300]


def test_the_same_name_in_different_objects_is_read(hostile_zed: httpx.Client) -> None:
    raw = (
        b'{"model": "zhiku", "stream": false, "messages": ['
        b'{"role": "system", "content": "Answer briefly."},'
        + '{"role": "user", "content": "报销期限？"}]}'.encode()
    )
    r = hostile_zed.post("/v1/chat/completions", content=raw, headers=JSON)
    assert r.status_code == 200, r.text[:300]
    r = hostile_zed.post(
        "/v1/search",
        content=b'{"query": "x", "filters": {"tags": ["a"], "file_types": ["pdf"]}}',
        headers=JSON,
    )
    assert r.status_code == 200, r.text[:300]


def test_an_upload_access_list_naming_a_field_twice_is_400_naming_it(
    hostile_zed: httpx.Client,
) -> None:
    """The upload form's ``access`` field is JSON too: held to the same rule."""
    for headers in ({}, ZH, TW):
        r = hostile_zed.post(
            "/v1/documents",
            files={"files": ("报告.txt", "报销须在三十天内提交。".encode())},
            data={"access": '{"everyone": true, "everyone": false}'},
            headers=headers,
        )
        assert r.status_code == 400, r.text[:300]
        words = r.json()["detail"]
        assert repr("everyone") in words, words
        assert has_chinese(words) if headers else "more than once" in words, words
