"""A query string read as its sender meant it, over real HTTP: a parameter the route does not
read was ignored (``/v1/documents?tags=hr``, one letter off ``tag``, listed every document),
and one that takes a single value, sent twice, was silently the second
(``?limit=1&limit=500``). Both are now a 400 naming the parameter, in the caller's language,
as a misspelt body field (422) and a form field sent twice (400) already were. A parameter
that takes a list (``?id=a&id=b``) is still sent once per value."""

from __future__ import annotations

import httpx
import pytest

from tests.api.hostile import DOC, TW, ZH, has_chinese
from tests.live import ThreadServer


def said(r: httpx.Response) -> str:
    body = r.json()
    return body["error"]["message"] if "error" in body else body["detail"]


@pytest.mark.parametrize(
    ("path", "name", "english"),
    [
        ("/v1/documents?tags=hr", "tags", "is not read here; send id, limit, offset, q"),
        ("/v1/audit/events?actor=x", "actor", "is not read here"),
        ("/v1/conversations?page=2", "page", "is not read here; send limit, offset"),
        (f"/v1/documents/{DOC}/file?v=1", "v", "is not read here; send version"),
        ("/v1/me?verbose=1", "verbose", "is not read here: this route reads none"),
        ("/v1/documents?limit=1&limit=500", "limit", "is sent more than once"),
        ("/v1/audit/events?since=2026-01-01T00:00:00Z&since=2027-01-01T00:00:00Z", "since", ""),
        ("/v1/directory?q=a&q=b", "q", "is sent more than once"),
        ("/v1/documents?tag=a&tag=b", "tag", "is sent more than once"),
    ],
)
def test_an_unknown_or_repeated_query_parameter_is_400_naming_it(
    hostile_zed: httpx.Client, path: str, name: str, english: str
) -> None:
    for headers in ({}, ZH, TW):
        r = hostile_zed.get(path, headers=headers)
        assert r.status_code == 400, (path, r.status_code, r.text[:300])
        words = said(r)
        assert repr(name) in words, words
        assert has_chinese(words) if headers else english in words, words


def test_a_list_parameter_takes_one_value_per_repeat(hostile_zed: httpx.Client) -> None:
    for path in (
        f"/v1/documents?id={DOC}&id=00000000-0000-4000-8000-000000000001",
        f"/v1/directory?user={DOC}&user=u2&group=g1&group=g2",
        "/v1/documents?limit=5&offset=0&q=报销",
    ):
        r = hostile_zed.get(path)
        assert r.status_code == 200, (path, r.text[:300])


def test_without_a_key_it_is_401_first(hostile_server: ThreadServer) -> None:
    r = httpx.get(hostile_server.url + "/v1/documents?tags=hr&limit=1&limit=2")
    assert r.status_code == 401, r.text[:300]


def test_openai_compatible_routes_leave_a_clients_own_parameters_alone(
    hostile_zed: httpx.Client,
) -> None:
    # Azure-style OpenAI clients add ?api-version= to every call; OpenAI's API answers them.
    r = hostile_zed.get("/v1/models?api-version=2024-06-01")
    assert r.status_code == 200 and r.json()["object"] == "list"
    r = hostile_zed.post(
        "/v1/chat/completions?api-version=2024-06-01",
        json={"model": "zhiku", "messages": [{"role": "user", "content": "年假有几天？"}]},
    )
    assert r.status_code == 200, r.text
