"""Classes of hostile input an outside review found open, each closed where it enters, over
real HTTP against the running app (PostgreSQL, no answer model: a tenant with nothing to read
is answered "no context" without one).

- The OpenAI-compatible request's texts (messages, their parts, stop sequences, the model's
  name) took NUL bytes, control characters and lone surrogates that every other request
  refuses: the question reached the audit record, which PostgreSQL refused after the answer
  had been generated (a 400 instead of the answer), or mid-stream, once it had been sent.
- A body sent with ``Content-Encoding: gzip`` was parsed as it came ("There was an error
  parsing the body"), and one that only claimed a coding was read as if it had none.
- An upload form's ``charset`` and a ``filename*``'s charset were looked up among Python's
  codecs, so a sender chose the decoder: ``unicode_escape`` made NUL bytes out of ASCII,
  ``punycode`` raised an error of its own (a generic 400).
"""

from __future__ import annotations

import gzip
import json
import zlib
from collections.abc import Iterator

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.exc import DataError, OperationalError

from core.db.models import AnswerRecord
from core.db.session import transaction
from index.types import chunk_id
from tests.api.world import World, wait_terminal
from tests.live import ThreadServer
from tests.llm.backends import dead_backend
from tests.support import make_settings

ZH = {"Accept-Language": "zh-CN"}
TW = {"Accept-Language": "zh-TW"}
FORBIDDEN = ["\x00", "\x01", "\x08", "\x0b", "\x1b", "\x7f", "\ud800", "\udfff"]
JSON = {"Content-Type": "application/json"}
DOC = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory) -> Iterator[ThreadServer]:  # type: ignore[no-untyped-def]
    settings_ = make_settings(
        tmp_path_factory.mktemp("hostile"),
        database={"url": pg_url},
        llm={"backends": [dead_backend("down")], "local": {"enabled": False}},
        limits={"max_upload_bytes": 100_000, "max_files_per_upload": 3},
        rate_limits={"enabled": False},  # hundreds of refusals a minute, on purpose
    )
    with ThreadServer(settings_) as srv:
        yield srv


@pytest.fixture(scope="module")
def world(server: ThreadServer) -> World:
    return World(server)


@pytest.fixture(scope="module")
def zed(world: World) -> Iterator[httpx.Client]:
    """Tenant B's admin: nothing to read, so a clean question is answered "no context"."""
    with world.client("zed") as client:
        yield client


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def raw_json(body: object) -> bytes:
    """JSON as a client may send it: lone surrogates written as ``\\ud800`` escapes."""
    return json.dumps(body, ensure_ascii=True).encode()


def records(server: ThreadServer) -> int:
    with transaction(server.container.sessions) as session:
        return session.scalar(select(func.count()).select_from(AnswerRecord)) or 0


def completion(**fields: object) -> dict[str, object]:
    return {
        "model": "zhiku",
        "messages": [{"role": "user", "content": "报销期限是多久？"}],
        **fields,
    }


# --- the OpenAI-compatible request's texts


def dirty_bodies(bad: str) -> dict[str, tuple[dict[str, object], str]]:
    """Each text of the request carrying ``bad``: (body, the parameter the refusal names)."""
    question = f"报销{bad}期限是多久？"
    return {
        "content": (completion(messages=[{"role": "user", "content": question}]), "messages"),
        "part": (
            completion(
                messages=[{"role": "user", "content": [{"type": "text", "text": question}]}]
            ),
            "messages",
        ),
        "system": (
            completion(
                messages=[
                    {"role": "system", "content": f"用中文{bad}回答"},
                    {"role": "user", "content": "报销期限？"},
                ]
            ),
            "messages",
        ),
        "history": (
            completion(
                messages=[
                    {"role": "user", "content": f"上一个{bad}问题"},
                    {"role": "assistant", "content": "回答"},
                    {"role": "user", "content": "报销期限？"},
                ]
            ),
            "messages",
        ),
        "stop": (completion(stop=[f"END{bad}"]), "stop"),
        "model": (completion(model=f"zhiku{bad}"), "model"),
        "user": (completion(user=f"crm-{bad}"), "user"),
    }


@pytest.mark.parametrize("bad", ["\x00", "\x1b", "\ud800"])
@pytest.mark.parametrize("stream", [False, True])
def test_every_openai_text_refuses_nul_control_and_surrogates(
    server: ThreadServer, zed: httpx.Client, bad: str, stream: bool
) -> None:
    before = records(server)
    for name, (body, param) in dirty_bodies(bad).items():
        for headers, chinese in (({}, False), (ZH, True), (TW, True)):
            r = zed.post(
                "/v1/chat/completions",
                content=raw_json({**body, "stream": stream}),
                headers={**JSON, **headers},
            )
            assert r.status_code == 400, (name, r.status_code, r.text[:300])
            error = r.json()["error"]
            assert (error["type"], error["param"]) == ("invalid_request_error", param), name
            if chinese:
                assert has_chinese(error["message"]), (name, error)
            else:  # a surrogate is no text at all: pydantic says so first
                said = error["message"]
                assert "control characters" in said or "unicode" in said, (name, error)
            assert "\\ud800" not in r.text and "\x00" not in r.text
    # Refused before any work: nothing was answered, so nothing was recorded.
    assert records(server) == before


def test_a_clean_openai_question_in_chinese_is_still_answered(zed: httpx.Client) -> None:
    for stream in (False, True):
        body = completion(
            messages=[
                {"role": "system", "content": "请用中文回答。\n\t保持简短。"},
                {"role": "user", "content": [{"type": "text", "text": "报销期限\n是多久？"}]},
            ],
            stop=["结束"],
            stream=stream,
        )
        r = zed.post("/v1/chat/completions", json=body)
        assert r.status_code == 200, r.text[:300]


_clean = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        st.sampled_from(["\n", "\t", "，", "。", "é"]),
    ),
    min_size=1,
    max_size=60,
).filter(lambda text: text.strip() != "")


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=_clean, bad=st.sampled_from(FORBIDDEN), at=st.integers(min_value=0))
def test_a_forbidden_character_anywhere_in_a_question_is_400_and_without_it_200(
    zed: httpx.Client, text: str, bad: str, at: int
) -> None:
    at %= len(text) + 1
    dirty = text[:at] + bad + text[at:]
    body = completion(messages=[{"role": "user", "content": dirty}])
    r = zed.post("/v1/chat/completions", content=raw_json(body), headers={**JSON, **ZH})
    assert r.status_code == 400, r.text[:300]
    assert r.json()["error"]["param"] == "messages"
    r = zed.post(
        "/v1/chat/completions", json=completion(messages=[{"role": "user", "content": text}])
    )
    assert r.status_code == 200, r.text[:300]


@pytest.mark.parametrize("model_id", ["m" * 65, "zh%00iku", "zh%1Biku"])
def test_a_model_id_in_the_path_is_bounded_and_clean(zed: httpx.Client, model_id: str) -> None:
    for headers in ({}, ZH):
        r = zed.get(f"/v1/models/{model_id}", headers=headers)
        assert r.status_code == 400, r.text[:300]
        assert r.json()["error"]["param"] == "model_id"
        assert not headers or has_chinese(r.json()["error"]["message"])
    assert zed.get("/v1/models/zhiku").status_code == 200
    assert zed.get("/v1/models/知库").json()["error"]["code"] == "model_not_found"


# --- Content-Encoding


def encodings(body: bytes) -> list[tuple[str, bytes]]:
    return [
        ("gzip", gzip.compress(body)),
        ("deflate", zlib.compress(body)),
        ("br", body),
        ("gzip", body),  # claims a coding it does not have
        ("identity, gzip", gzip.compress(body)),
    ]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/search", {"query": "报销期限"}),
        ("/v1/chat", {"message": "报销期限？", "stream": False}),
        ("/v1/chat/completions", completion()),
        ("/v1/auth/login", {"username": "ann", "password": "not the password"}),
    ],
)
def test_a_compressed_body_is_415_saying_to_send_it_uncompressed(
    world: World, zed: httpx.Client, path: str, body: dict[str, object]
) -> None:
    plain = json.dumps(body, ensure_ascii=False).encode()
    for coding, sent in encodings(plain):
        for headers in ({}, ZH, TW):
            r = zed.post(
                path, content=sent, headers={**JSON, "Content-Encoding": coding, **headers}
            )
            assert r.status_code == 415, (coding, r.status_code, r.text[:300])
            assert r.headers["accept-encoding"] == "identity"
            said = r.json()["error"]["message"] if "completions" in path else r.json()["detail"]
            assert has_chinese(said) if headers else "Content-Encoding" in said, said
    # Uncompressed, or "identity": read as before.
    r = zed.post(path, content=plain, headers={**JSON, "Content-Encoding": "identity"})
    assert r.status_code != 415, r.text[:300]


def test_a_compressed_body_without_a_key_is_401_first(server: ThreadServer) -> None:
    r = httpx.post(
        server.url + "/v1/search",
        content=gzip.compress(b'{"query": "x"}'),
        headers={**JSON, "Content-Encoding": "gzip"},
    )
    assert r.status_code == 401, r.text[:300]


def test_a_compressed_upload_is_415_and_a_stray_header_on_a_read_is_ignored(
    zed: httpx.Client,
) -> None:
    request = zed.build_request("POST", "/v1/documents", files={"files": ("报告.txt", b"x" * 100)})
    body = request.read()
    r = zed.post(
        "/v1/documents",
        content=gzip.compress(body),
        headers={"Content-Type": request.headers["content-type"], "Content-Encoding": "gzip"},
    )
    assert r.status_code == 415, r.text[:300]
    assert zed.get("/v1/documents", headers={"Content-Encoding": "gzip"}).status_code == 200


# --- an upload form's charsets


def multipart(disposition: bytes, data: bytes, charset: bytes | None = None) -> dict[str, object]:
    body = (
        b"--b\r\nContent-Disposition: form-data; " + disposition + b"\r\n\r\n" + data + b"\r\n"
        b"--b--\r\n"
    )
    kind = b"multipart/form-data; boundary=b" + (b"; charset=" + charset if charset else b"")
    return {"content": body, "headers": {"Content-Type": kind.decode("latin-1")}}


@pytest.mark.parametrize(
    "charset", [b"unicode_escape", b"raw_unicode_escape", b"utf-7", b"punycode", b"rot13", b"x"]
)
def test_a_form_charset_that_is_no_text_charset_is_400(zed: httpx.Client, charset: bytes) -> None:
    form = multipart(b'name="files"; filename="a\\x00b.txt"', b"hello, world", charset)
    for headers in ({}, ZH):
        r = zed.post(
            "/v1/documents", content=form["content"], headers={**form["headers"], **headers}
        )  # type: ignore[dict-item]
        assert r.status_code == 400, r.text[:300]
        said = r.json()["detail"]
        assert has_chinese(said) if headers else "UTF-8" in said, said


@pytest.mark.parametrize("charset", ["UTF-8", "utf8", "GB18030", "gbk", "big5"])
def test_a_form_in_utf8_or_a_chinese_charset_is_read(zed: httpx.Client, charset: str) -> None:
    name = "报告.txt" if charset.lower() != "big5" else "報告.txt"
    form = multipart(
        f'name="files"; filename="{name}"'.encode(charset),
        f"报销须在三十天内提交（{charset}）。".encode(),
        charset.encode(),
    )
    r = zed.post("/v1/documents", **form)  # type: ignore[arg-type]
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
    zed: httpx.Client, name: bytes
) -> None:
    form = multipart(b'name="files"; filename*=' + name, b"hello, world")
    for headers in ({}, ZH):
        r = zed.post(
            "/v1/documents", content=form["content"], headers={**form["headers"], **headers}
        )  # type: ignore[dict-item]
        assert r.status_code == 400, r.text[:300]
        said = r.json()["detail"]
        assert "filename*" in said and (has_chinese(said) if headers else "UTF-8" in said), said


def test_a_filename_star_in_utf8_or_latin1_is_read(zed: httpx.Client) -> None:
    for name, shown in [
        (b"UTF-8''%E6%8A%A5%E5%91%8A.txt", "报告.txt"),
        (b"ISO-8859-1''caf%E9.txt", "café.txt"),
    ]:
        form = multipart(b'name="files"; filename*=' + name, "报销须在三十天内提交。".encode())
        r = zed.post("/v1/documents", **form)  # type: ignore[arg-type]
        assert r.status_code == 202, r.text[:300]
        assert r.json()["data"][0]["filename"] == shown


# --- a JSON body the parser raised on: what was wrong, not only that something was


@pytest.mark.parametrize(
    ("raw", "english", "chinese"),
    [
        ('{"query": "报销期限'.encode("gbk") + b'"}', "not UTF-8", "UTF-8"),
        (b'{"query": "\xff\xfe"}', "not UTF-8", "UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply", "嵌套过深"),
        (b'{"query": "x", "limit": ' + b"9" * 5000 + b"}", "too many digits", "位数过多"),
    ],
)
def test_an_unparseable_json_body_is_400_saying_why(
    zed: httpx.Client, raw: bytes, english: str, chinese: str
) -> None:
    for path in ("/v1/search", "/v1/chat", "/v1/chat/completions"):
        r = zed.post(path, content=raw, headers=JSON)
        said = r.json()["error"]["message"] if "completions" in path else r.json()["detail"]
        assert (r.status_code, english in said) == (400, True), (path, r.text[:300])
        r = zed.post(path, content=raw, headers={**JSON, **ZH})
        said = r.json()["error"]["message"] if "completions" in path else r.json()["detail"]
        assert r.status_code == 400 and chinese in said and has_chinese(said), said


# --- a failure once a streamed answer has begun


def sse_events(text: str) -> list[tuple[str, dict[str, object]]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        events.append((lines.get("event", ""), json.loads(lines.get("data", "{}"))))
    return events


@pytest.mark.parametrize(
    ("failure", "english"),
    [
        (DataError("INSERT …", {}, ValueError("NUL (0x00) bytes")), "cannot be stored"),
        (OperationalError("INSERT …", {}, ConnectionError("refused")), "database"),
    ],
)
def test_a_record_that_fails_mid_stream_ends_the_stream_with_a_word(
    server: ThreadServer,
    zed: httpx.Client,
    monkeypatch: pytest.MonkeyPatch,
    failure: Exception,
    english: str,
) -> None:
    """The audit record of a streamed answer is written once the answer is out; a database
    that refuses it then cut the connection mid-stream, with no reason given. Injected here
    (a real NUL can no longer reach it; a real outage is tests/faults' to stage)."""

    def refuse(*_: object, **__: object) -> str:
        raise failure

    monkeypatch.setattr(server.container.services.answers, "record", refuse)
    for headers in ({}, ZH):
        r = zed.post("/v1/chat", json={"message": "报销期限是多久？"}, headers=headers)
        assert r.status_code == 200, r.text[:300]
        name, data = sse_events(r.text)[-1]
        assert name == "error", r.text[-300:]
        said = str(data["detail"])
        assert has_chinese(said) if headers else english in said, said
        assert "INSERT" not in r.text and "0x00" not in r.text
        r = zed.post("/v1/chat/completions", json=completion(stream=True), headers=headers)
        assert r.status_code == 200 and r.text.rstrip().endswith("data: [DONE]"), r.text[-300:]
    monkeypatch.undo()
    r = zed.post("/v1/chat", json={"message": "报销期限是多久？", "stream": False})
    assert r.status_code == 200 and r.json()["outcome"] == "no_context", r.text[:300]


# --- a field a body does not know


@pytest.mark.parametrize(
    ("method", "path", "body", "unknown"),
    [
        ("POST", "/v1/search", {"query": "报销", "filter": {"tags": ["hr"]}}, "filter"),
        ("POST", "/v1/search", {"query": "报销", "filters": {"tag": ["hr"]}}, "tag"),
        (
            "POST",
            "/v1/chat",
            {"message": "报销？", "stream": False, "conversation": "x"},
            "conversation",
        ),
        ("POST", "/v1/chat/completions", completion(filters={"document_id": ["d"]}), "document_id"),
        ("PATCH", f"/v1/documents/{DOC}/access", {"user": ["u1"], "everyone": False}, "user"),
        ("POST", f"/v1/answers/{DOC}/feedback", {"rating": "up", "comments": "好"}, "comments"),
    ],
)
def test_a_misspelt_field_is_refused_naming_it(
    zed: httpx.Client, method: str, path: str, body: dict[str, object], unknown: str
) -> None:
    for headers in ({}, ZH):
        r = zed.request(method, path, json=body, headers=headers)
        if "completions" in path:  # OpenAI's shape: the field named in the message
            assert r.status_code == 400 and unknown in r.json()["error"]["message"], r.text
            said = r.json()["error"]["message"]
        else:
            assert r.status_code == 422, r.text[:300]
            (error,) = [e for e in r.json()["detail"] if e["type"] == "extra_forbidden"]
            assert error["loc"][-1] == unknown
            said = error["msg"]
        assert has_chinese(said) if headers else "not permitted" in said, said


def test_an_openai_client_may_still_send_fields_that_change_nothing(zed: httpx.Client) -> None:
    body = completion(store=False, metadata={"crm": "42"}, frequency_penalty=0, service_tier="auto")
    assert zed.post("/v1/chat/completions", json=body).status_code == 200


def test_a_misspelt_access_list_in_an_upload_is_400(zed: httpx.Client) -> None:
    r = zed.post(
        "/v1/documents",
        files={"files": ("报告.txt", "报销须在三十天内提交。".encode())},
        data={"access": json.dumps({"user": ["u1"]})},
        headers=ZH,
    )
    assert r.status_code == 400 and has_chinese(r.json()["detail"]), r.text[:300]


# --- a conversation's citations after the document's access is withdrawn


def test_a_history_names_only_documents_the_caller_may_still_read(
    server: ThreadServer, world: World
) -> None:
    """carol was answered from a document ann shared with her; ann withdrew it. Her history
    kept the citation (the document's id, title and file name) though every other read of
    it answers 404; it now cites only what she may read, and again once it is shared back."""
    services = server.container.services
    with world.client("ann") as ann, world.client("carol") as carol:
        shared = {"users": [world.ids["carol"]]}
        r = ann.post(
            "/v1/documents",
            files={"files": ("并购计划.txt", "机密：与某公司的并购计划。".encode())},
            data={"access": json.dumps(shared)},
        )
        assert r.status_code == 202, r.text[:300]
        doc_id = r.json()["data"][0]["id"]
        # The turn as /v1/chat saves it (an answer model would have cited the document).
        principal = services.identity.authenticate(world.keys["carol"])
        conversation_id, _ = services.conversations.open(principal, None, "并购计划是什么？")
        citation = {
            "number": 1,
            "document_id": doc_id,
            "version": 1,
            "title": "并购计划",
            "filename": "并购计划.txt",
            "page": None,
            "page_end": None,
            "section": [],
            "chunk_ids": [],
            "positions": [],
        }
        services.conversations.save_turn(
            principal, conversation_id, "并购计划是什么？", "与某公司并购 [1]。", [citation], "a1"
        )

        def cited() -> list[str]:
            r = carol.get(f"/v1/conversations/{conversation_id}")
            assert r.status_code == 200, r.text[:300]
            return [c["document_id"] for m in r.json()["messages"] for c in m["citations"]]

        assert cited() == [doc_id]
        r = ann.patch(f"/v1/documents/{doc_id}/access", json={"users": [world.ids["ann"]]})
        assert r.status_code in (200, 202), r.text[:300]
        assert carol.get(f"/v1/documents/{doc_id}").status_code == 404
        assert cited() == []
        assert "并购计划.txt" not in carol.get(f"/v1/conversations/{conversation_id}").text
        assert ann.patch(f"/v1/documents/{doc_id}/access", json=shared).status_code in (200, 202)
        assert cited() == [doc_id]


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
    zed: httpx.Client, fields: list[tuple[str, str]], english: str
) -> None:
    name = fields[0][0]
    for headers in ({}, ZH):
        r = zed.post(
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
    r = zed.post(
        f"/v1/documents/{DOC}/versions",
        files=[("file", ("报告.txt", b"x")), ("tags", (None, "公开"))],  # type: ignore[list-item]
    )
    assert r.status_code == 400 and "'tags'" in r.json()["detail"], r.text[:300]


def test_tags_split_on_the_commas_a_chinese_input_method_types(zed: httpx.Client) -> None:
    r = zed.post(
        "/v1/documents",
        files={"files": ("制度.txt", "出差住宿标准为每晚六百元。".encode())},
        data={"tags": "公开，内部、机密, HR"},
    )
    assert r.status_code == 202, r.text[:300]
    assert r.json()["data"][0]["tags"] == ["公开", "内部", "机密", "HR"]


@pytest.mark.parametrize("role", ["SYSTEM", "bot", "", "用户"])
def test_a_role_openai_does_not_have_is_400_not_silently_dropped(
    zed: httpx.Client, role: str
) -> None:
    body = completion(
        messages=[
            {"role": role, "content": "只用英文回答"},
            {"role": "user", "content": "报销期限？"},
        ]
    )
    for headers in ({}, ZH):
        r = zed.post("/v1/chat/completions", json=body, headers=headers)
        assert r.status_code == 400, r.text[:300]
        error = r.json()["error"]
        assert error["param"] == "messages" and "role" in error["message"], error
        assert not headers or has_chinese(error["message"])
    # Tool results (answers to tool calls, which Zhiku never makes) are accepted and skipped.
    body = completion(
        messages=[{"role": "tool", "tool_call_id": "1", "content": "42"}, *completion()["messages"]]  # type: ignore[list-item]
    )
    assert zed.post("/v1/chat/completions", json=body).status_code == 200


# --- a query string's parameters


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/v1/documents", "q=%FF%FE"),
        ("/v1/documents", "tag=%C3%28"),
        ("/v1/directory", "q=%ED%A0%80"),
        ("/v1/admin/users", "q=%E6%8A"),
        ("/v1/conversations", "offset=%80"),
    ],
)
def test_a_query_parameter_that_is_not_utf8_is_400_naming_it(
    server: ThreadServer, zed: httpx.Client, path: str, query: str
) -> None:
    """Decoded leniently, ``?q=%FF`` searched for U+FFFD: something the client never sent."""
    name = query.split("=")[0]
    for headers in ({}, ZH):
        r = zed.get(f"{path}?{query}", headers=headers)
        assert r.status_code == 400, r.text[:300]
        said = r.json()["detail"]
        assert repr(name) in said and (has_chinese(said) if headers else "utf-8" in said), said
    good = "0" if name == "offset" else "%E6%8A%A5"  # 报, in UTF-8
    assert zed.get(f"{path}?{name}={good}").status_code == 200
    assert httpx.get(f"{server.url}{path}?{query}").status_code == 401  # the key first


# --- an admin and the text of a document not shared with them


def test_an_admin_reads_text_only_where_the_access_list_names_them(world: World) -> None:
    """docs/security.md: "No role can search a document, or read its text, unless its access
    list admits them: not admins". Search held to it; the cited passage and the original file
    did not: an admin (who sees every document's metadata) downloaded any of them, unrecorded."""
    text = "薪酬方案：明年调薪百分之八。Salary plan: eight percent next year."
    with world.client("bob") as bob, world.client("ann") as ann, world.client("carol") as carol:
        r = bob.post("/v1/documents", files={"files": ("薪酬.txt", text.encode())})
        assert r.status_code == 202, r.text[:300]
        doc_id = r.json()["data"][0]["id"]
        assert wait_terminal(bob, doc_id)["status"] == "ready"
        chunk = chunk_id(world.tenant_a.id, doc_id, 1, 0)
        reads = (f"/v1/documents/{doc_id}/passages/{chunk}", f"/v1/documents/{doc_id}/file")
        for path in reads:
            assert bob.get(path).status_code == 200, path  # the owner
            assert carol.get(path).status_code == 404, path  # a member: as if absent
            for headers in ({}, ZH):
                r = ann.get(path, headers=headers)
                assert r.status_code == 403, (path, r.text[:300])
                said = r.json()["detail"]
                assert has_chinese(said) if headers else "access list" in said, said
                assert "薪酬" not in r.text and "Salary" not in r.text
        assert ann.get(f"/v1/documents/{doc_id}").status_code == 200  # metadata, as before
        # Added to the list (an override, recorded), the admin reads it like anyone on it.
        r = ann.patch(
            f"/v1/documents/{doc_id}/access", json={"users": [world.ids["bob"], world.ids["ann"]]}
        )
        assert r.status_code in (200, 202), r.text[:300]
        assert ann.get(reads[1]).content == text.encode()
        assert "薪酬方案" in ann.get(reads[0]).json()["text"]
