"""A body that is not what its route reads gets a 4xx that says what to send, in the caller's
language, over real HTTP: a multipart header the parser refuses (it was a 500, raised by the
guard before any route), a JSON route sent a form or text, an upload route sent JSON, and the
multipart parser's own refusals."""

from __future__ import annotations

import httpx
import pytest

from api.errors import FORM_BODY_EXPECTED, JSON_BODY_EXPECTED, NOT_A_FILE
from tests.api.world import World
from tests.live import ThreadServer
from tests.support import make_settings

ZH = {"Accept-Language": "zh-CN"}
DOC = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("body-shapes"), database={"url": pg_url})
    with ThreadServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def ann(server: ThreadServer) -> httpx.Client:
    with World(server).client("ann") as client:
        yield client


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


@pytest.mark.parametrize("path", ["/v1/documents", f"/v1/documents/{DOC}/versions"])
@pytest.mark.parametrize("length", [257, 5000])
def test_a_boundary_the_parser_refuses_is_400_not_500(
    ann: httpx.Client, path: str, length: int
) -> None:
    boundary = "B" * length
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\nhello\r\n--{boundary}--\r\n"
    )
    for headers in ({}, ZH):
        r = ann.post(
            path,
            content=body.encode(),
            headers={**headers, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert r.status_code == 400, (r.status_code, r.text[:300])
    # The connection and the server are fine afterwards.
    assert ann.get("/v1/documents").status_code == 200


JSON_ROUTES = [
    ("POST", "/v1/search"),
    ("POST", "/v1/chat"),
    ("POST", "/v1/chat/completions"),
    ("PATCH", f"/v1/documents/{DOC}/access"),
    ("POST", "/v1/admin/users"),
]
NOT_JSON = [
    ("text/plain", b'{"query": "x"}'),
    ("application/x-www-form-urlencoded", b"query=x"),
    (
        "multipart/form-data; boundary=b",
        b'--b\r\nContent-Disposition: form-data; name="q"\r\n\r\nx\r\n--b--\r\n',
    ),
    (None, b'{"query": "x"}'),
]


@pytest.mark.parametrize(("method", "path"), JSON_ROUTES)
@pytest.mark.parametrize(("content_type", "body"), NOT_JSON)
def test_a_json_route_sent_another_media_type_is_415_saying_what_to_send(
    ann: httpx.Client, method: str, path: str, content_type: str | None, body: bytes
) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    english = ann.request(method, path, content=body, headers=headers)
    chinese = ann.request(method, path, content=body, headers={**headers, **ZH})
    assert (english.status_code, chinese.status_code) == (415, 415), english.text[:300]
    if path.endswith("/completions"):  # OpenAI's shape, same words
        assert english.json()["error"]["message"] == JSON_BODY_EXPECTED
        assert english.json()["error"]["code"] == "unsupported_media_type"
        said = chinese.json()["error"]["message"]
    else:
        assert english.json() == {"detail": JSON_BODY_EXPECTED}
        said = chinese.json()["detail"]
    assert has_chinese(said) and "application/json" in said, said


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", b'{"files": ["a"]}'),
        ("application/x-www-form-urlencoded", b"files=abc"),
        ("text/plain", b"hello"),
    ],
)
def test_an_upload_sent_as_anything_but_multipart_is_415(
    ann: httpx.Client, content_type: str, body: bytes
) -> None:
    for path in ("/v1/documents", f"/v1/documents/{DOC}/versions"):
        english = ann.post(path, content=body, headers={"Content-Type": content_type})
        assert english.status_code == 415, english.text[:300]
        assert english.json() == {"detail": FORM_BODY_EXPECTED}
        chinese = ann.post(path, content=body, headers={"Content-Type": content_type, **ZH})
        assert chinese.status_code == 415
        assert has_chinese(chinese.json()["detail"])
        assert "multipart/form-data" in chinese.json()["detail"]


def test_json_of_the_wrong_shape_still_names_its_fields(ann: httpx.Client) -> None:
    # The right media type: the body was read, so its errors are about fields (422).
    r = ann.post("/v1/search", json={"query": 5, "limit": "many"})
    assert r.status_code == 422
    assert {tuple(e["loc"]) for e in r.json()["detail"]} >= {("body", "limit")}
    assert (
        ann.post(
            "/v1/search", content=b"[]", headers={"Content-Type": "application/json"}
        ).status_code
        == 422
    )
    r = ann.post(
        "/v1/search", json={"query": "x"}, headers={"Content-Type": "application/vnd.api+json"}
    )
    assert r.status_code == 200, r.text[:300]


MALFORMED_UPLOADS = [
    # (Content-Type, body, what the English answer says)
    ("multipart/form-data", b"xx", "Missing boundary in multipart."),
    (
        "multipart/form-data; boundary=OTHER",
        b"--b\r\n\r\nx\r\n--b--\r\n",
        "Invalid multipart data.",
    ),
    (
        "multipart/form-data; boundary=b",
        b'--b\r\nContent-Disposition: form-data; filename="a.txt"\r\n\r\nhi\r\n--b--\r\n',
        'The Content-Disposition header field "name" must be provided.',
    ),
]


@pytest.mark.parametrize(("content_type", "body", "english"), MALFORMED_UPLOADS)
def test_the_multipart_parsers_refusals_read_in_chinese(
    ann: httpx.Client, content_type: str, body: bytes, english: str
) -> None:
    r = ann.post("/v1/documents", content=body, headers={"Content-Type": content_type})
    assert (r.status_code, r.json()) == (400, {"detail": english})
    r = ann.post("/v1/documents", content=body, headers={"Content-Type": content_type, **ZH})
    assert r.status_code == 400
    assert has_chinese(r.json()["detail"]), r.json()


def test_a_file_sent_as_a_text_field_is_named_without_python_internals(
    ann: httpx.Client,
) -> None:
    body = b'--b\r\nContent-Disposition: form-data; name="files"\r\n\r\nhello\r\n--b--\r\n'
    headers = {"Content-Type": "multipart/form-data; boundary=b"}
    r = ann.post("/v1/documents", content=body, headers=headers)
    assert r.status_code == 422
    assert r.json()["detail"][0]["loc"] == ["body", "files", 0]
    assert r.json()["detail"][0]["msg"] == NOT_A_FILE
    r = ann.post("/v1/documents", content=body, headers={**headers, **ZH})
    said = r.json()["detail"][0]["msg"]
    assert has_chinese(said) and "class" not in said and "UploadFile" not in said, said


@pytest.mark.parametrize(
    ("method", "path", "body", "english"),
    [
        ("GET", "/v1/models/gpt-4", None, "the model 'gpt-4' does not exist; use 'zhiku'"),
        (
            "POST",
            "/v1/chat/completions",
            {"model": "gpt-4", "messages": [{"role": "user", "content": "hi"}]},
            "the model 'gpt-4' does not exist; use 'zhiku'",
        ),
        (
            "POST",
            "/v1/chat/completions",
            {"model": "zhiku", "messages": [{"role": "user", "content": "hi"}], "n": 2},
            "only one choice per request is supported (n=1)",
        ),
        (
            "POST",
            "/v1/chat/completions",
            {"model": "zhiku", "messages": [{"role": "assistant", "content": "hi"}]},
            "the last message must be the user's question",
        ),
    ],
)
def test_the_openai_routes_own_refusals_read_in_chinese(
    ann: httpx.Client, method: str, path: str, body: dict | None, english: str
) -> None:
    r = ann.request(method, path, json=body)
    assert r.json()["error"]["message"] == english, r.text[:300]
    chinese = ann.request(method, path, json=body, headers=ZH)
    assert chinese.status_code == r.status_code
    said = chinese.json()["error"]["message"]
    assert has_chinese(said), said
    assert chinese.json()["error"]["param"] == r.json()["error"]["param"]
