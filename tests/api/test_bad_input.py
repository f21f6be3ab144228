"""No 500, ever, on bad input: every class of hostile input gets a clear 4xx, over real HTTP
against PostgreSQL (which refuses NUL bytes), and nothing is stored raw or echoed back."""

from __future__ import annotations

import io
import json
import zipfile

import httpx
import pytest
from sqlalchemy import select

from core.db.models import AnswerRecord
from core.db.session import transaction
from tests.api.world import World, upload
from tests.live import ThreadServer
from tests.support import make_settings

PAGED = ("/v1/documents", "/v1/conversations", "/v1/audit/answers", "/v1/audit/events")


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(
        tmp_path_factory.mktemp("bad-input"),
        database={"url": pg_url},
        limits={"max_upload_bytes": 1_000_000, "max_files_per_upload": 5},
    )
    with ThreadServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def ann(server: ThreadServer) -> httpx.Client:
    with World(server).client("ann") as client:
        yield client


def assert_refused(r: httpx.Response, *codes: int) -> None:
    assert r.status_code in (codes or (400, 404, 413, 422)), (r.status_code, r.text[:300])
    assert len(r.content) < 8192, "an error must not echo the input back"


def future_zip_docx() -> bytes:
    """A .docx whose zip headers ask for zip version 9.9, which Python cannot read."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
    data = bytearray(buffer.getvalue())
    at = 0
    while (at := data.find(b"PK\x01\x02", at)) != -1:
        data[at + 6 : at + 8] = (99).to_bytes(2, "little")  # version needed to extract
        at += 4
    return bytes(data)


@pytest.mark.parametrize("path", PAGED)
@pytest.mark.parametrize("offset", [2**63, 2**64 + 1, -1, 10**30])
def test_offsets_past_any_integer_are_422(ann: httpx.Client, path: str, offset: int) -> None:
    assert_refused(ann.get(path, params={"offset": offset}), 422)
    assert_refused(ann.get(path, params={"limit": 2**63}), 422)


@pytest.mark.parametrize(
    ("method", "template"),
    [
        ("GET", "/v1/documents/{}"),
        ("DELETE", "/v1/documents/{}"),
        ("PATCH", "/v1/documents/{}/access"),
        ("GET", "/v1/conversations/{}"),
        ("DELETE", "/v1/conversations/{}"),
    ],
)
@pytest.mark.parametrize("bad_id", ["a%00b", "%00", "x" * 10_000, "%C3%28", "..%2F..", "%ED%A0%80"])
def test_path_ids_are_bounded_and_clean(
    ann: httpx.Client, method: str, template: str, bad_id: str
) -> None:
    body = {"users": [], "everyone": True} if method == "PATCH" else None
    r = ann.request(method, template.format(bad_id), json=body)
    assert_refused(r)


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/v1/audit/answers", {"user_id": "a\x00b"}),
        ("/v1/audit/answers", {"user_id": "u" * 500}),
        ("/v1/audit/events", {"actor_id": "a\x00b"}),
        ("/v1/audit/events", {"target_id": "用户"}),
        ("/v1/audit/events", {"action": "x\x00"}),
        ("/v1/documents", {"status": "ready\x00"}),
    ],
)
def test_query_params_are_bounded_and_clean(
    ann: httpx.Client, path: str, params: dict[str, str]
) -> None:
    assert_refused(ann.get(path, params=params), 403, 422)


@pytest.mark.parametrize(
    "body",
    [
        {"query": "向量\x00数据库"},
        {"query": "rust\x07"},
        {"query": "x" * 5000},
        {"query": "  \n\t  "},
        {"query": "ok", "filters": {"document_ids": ["a\x00"]}},
        {"query": "ok", "filters": {"document_ids": ["d"] * 101}},
        {"query": "ok", "filters": {"tags": ["t" * 101]}},
        {"query": "ok", "filters": {"file_types": ["pdf\x00"]}},
        {"query": "ok", "limit": 2**63},
    ],
)
def test_search_bodies_are_bounded_and_clean(ann: httpx.Client, body: dict) -> None:
    assert_refused(ann.post("/v1/search", json=body), 422)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"query": "\\ud800 lone surrogate"}',
        b'{"query": "\xff\xfe invalid utf-8"}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"query": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_000 + b"}",
        b"\x00\x01\x02",
    ],
)
def test_unparseable_json_is_4xx(ann: httpx.Client, raw: bytes) -> None:
    for path in ("/v1/search", "/v1/chat", "/v1/documents/x/access"):
        method = "PATCH" if path.endswith("access") else "POST"
        r = ann.request(method, path, content=raw, headers={"content-type": "application/json"})
        assert_refused(r, 400, 404, 413, 422)


def test_a_lone_surrogate_in_a_chat_message_is_422(ann: httpx.Client) -> None:
    raw = b'{"message": "\\ud800\\u5411\\u91cf?"}'
    r = ann.post("/v1/chat", content=raw, headers={"content-type": "application/json"})
    assert_refused(r, 422)


@pytest.mark.parametrize(
    "body",
    [
        {"message": "什么是\x00向量？"},
        {"message": "hi", "conversation_id": "c\x00"},
        {"message": "hi", "conversation_id": "c" * 1000},
        {"message": "x" * 5000},
        {"message": " \n "},
    ],
)
def test_chat_bodies_are_bounded_and_clean(ann: httpx.Client, body: dict) -> None:
    assert_refused(ann.post("/v1/chat", json=body), 422)


def test_a_whitespace_padded_query_is_normalised_before_work(
    server: ThreadServer, ann: httpx.Client
) -> None:
    padding = " " * 50_000 + "\t\n" * 5_000  # twice: ~140 KB of JSON, under its cap
    r = ann.post(
        "/v1/search", json={"query": padding + "向量   数据库\n\n  vector   search" + padding}
    )
    assert r.status_code == 200, r.text[:300]
    assert r.json()["query"] == "向量 数据库 vector search"
    with transaction(server.container.sessions) as session:
        stored = session.scalars(select(AnswerRecord.question)).all()
    assert "向量 数据库 vector search" in stored
    assert max(len(q) for q in stored) < 1000


@pytest.mark.parametrize(
    "access",
    [
        "[" * 200_000,
        json.dumps({"users": [f"u{i}" for i in range(20_000)]}),
        json.dumps({"users": ["a\x00b"]}),
        json.dumps({"groups": "not a list"}),
        '{"users": ["\\ud800"]}',
    ],
)
def test_the_access_field_is_parsed_with_bounds(ann: httpx.Client, access: str) -> None:
    r = upload(ann, [("a.txt", b"hello")], access=None)
    assert r.status_code == 202
    r = ann.post("/v1/documents", files=[("files", ("a.txt", b"hello"))], data={"access": access})
    assert_refused(r, 400, 413, 422)


def test_a_huge_access_list_is_refused_before_sql(ann: httpx.Client) -> None:
    users = [f"00000000-0000-0000-0000-{i:012d}" for i in range(5_000)]
    r = ann.request("PATCH", "/v1/documents/x/access", json={"users": users})
    assert_refused(r, 413, 422)  # 5,000 ids: over the list bound (or the JSON cap)


def test_tags_with_control_characters_are_400(ann: httpx.Client) -> None:
    r = upload(ann, [("a.txt", b"hello")], tags="ok,bad\x00tag")
    assert_refused(r, 400)


def test_an_unreadable_office_file_is_refused_alone(ann: httpx.Client) -> None:
    good = "Zhiku 知识库：企业文档检索。Zhiku indexes enterprise documents.".encode()
    r = upload(ann, [("future.docx", future_zip_docx()), ("good.txt", good)])
    assert r.status_code == 202, r.text
    body = r.json()
    assert [d["filename"] for d in body["data"]] == ["good.txt"]
    (error,) = body["errors"]
    assert error["filename"] == "future.docx" and error["status_code"] == 415
    assert "zip" in error["detail"]
    # Every file refused: the first one's status.
    r = upload(ann, [("future.docx", future_zip_docx())])
    assert r.status_code == 415 and r.json()["errors"][0]["filename"] == "future.docx"


@pytest.mark.parametrize(
    "data",
    [
        b"PK\x03\x04" + b"\xff" * 4000,  # a zip signature and garbage
        bytes.fromhex("D0CF11E0A1B11AE1") + b"\x00" * 600,  # an OLE header and nothing
        b"PK\x03\x04" + b"\x00" * 26 + b"PK\x05\x06" + b"\xff" * 18,
    ],
)
def test_hostile_containers_are_4xx(ann: httpx.Client, data: bytes) -> None:
    for name in ("hostile.docx", "hostile.msg", "hostile.bin"):
        assert_refused(upload(ann, [(name, data)]), 400, 415, 422)


def test_a_file_name_of_ten_thousand_characters(ann: httpx.Client) -> None:
    r = upload(ann, [("文" * 5_000 + "n" * 5_000 + ".txt", b"hello, world")])
    assert r.status_code in (202, 400), r.text[:300]
    if r.status_code == 202:
        assert len(r.json()["data"][0]["filename"].encode()) <= 200


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_names_lose_bidi_and_invisible_characters_in_files_and_archive_titles(
    ann: httpx.Client,
) -> None:
    inner = {"制度/\u202e报销\u200b.txt": "出差住宿标准为每晚六百元。".encode()}
    files = [("invoice_\u202efdp.txt", b"an invoice"), ("资料\u2067\u200b.zip", _zip(inner))]
    r = upload(ann, files)
    assert r.status_code == 202, r.text
    shown = sorted((d["filename"], d["title"]) for d in r.json()["data"])
    assert shown == [("invoice_fdp.txt", "invoice_fdp"), ("报销.txt", "资料.zip/制度/报销")]


@pytest.mark.parametrize("language", ["en", "zh-CN"])
def test_an_archive_name_is_checked_like_any_file_name(ann: httpx.Client, language: str) -> None:
    archive = _zip({"ok.txt": b"a member of a badly named archive"})
    files = [("../../up/资料.zip", archive), ("fine.txt", b"the other file goes on")]
    r = ann.post(
        "/v1/documents",
        files=[("files", item) for item in files],
        headers={"Accept-Language": language},
    )
    assert r.status_code == 202, r.text
    body = r.json()
    assert [d["filename"] for d in body["data"]] == ["fine.txt"]
    (error,) = body["errors"]
    assert error["status_code"] == 400
    expected = "不能包含路径分隔符" if language == "zh-CN" else "must not contain path separators"
    assert expected in error["detail"]


@pytest.mark.parametrize(
    ("question", "detail"),
    [
        (
            "What is a vector database?",
            "The answer model is not set up on this server; ask an administrator.",
        ),
        # A caller who sent no language of their own reads it in the question's language.
        ("什么是向量数据库？", "此服务器未配置回答模型，请联系管理员。"),
    ],
)
def test_503_names_what_is_unavailable_and_nothing_more(
    ann: httpx.Client, question: str, detail: str
) -> None:
    # No answer model is configured in these tests: chat is unavailable, in general terms.
    r = ann.post("/v1/chat", json={"message": question, "stream": False})
    assert r.status_code == 503, r.text
    assert r.json() == {"detail": detail}


def test_validation_errors_do_not_echo_the_input(ann: httpx.Client) -> None:
    r = ann.post("/v1/search", json={"query": "q" * 4001 + "SECRET"})
    assert r.status_code == 422
    assert "SECRET" not in r.text and "input" not in r.json()["detail"][0]
