"""Each component down, over real HTTP: a 503 that names the component in plain words and
nothing else (no exception type, host, port or library text), the detail logged once.

Components are really down, not mocked: a Qdrant URL, a Redis broker and a PostgreSQL URL on
ports nothing listens on, an LLM backend that refuses connections, an embedding model folder
with no model in it.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx
import pytest
import redis
from sqlalchemy import select

from core.db import documents as doc_queries
from core.db.models import Document
from core.db.session import make_engine, make_session_factory, transaction
from core.errors import Component, UpstreamUnavailable
from index.models import default_model_dir
from tests.api.world import World, upload, wait_terminal
from tests.live import ThreadServer
from tests.llm.backends import closed_port, dead_backend
from tests.support import make_settings
from workers.queues import PARSE_SMALL_QUEUE
from workers.retry import Fail, RetryPolicy

# What no caller may read in an error: exception types (CamelCase words, "…Error"),
# addresses, the libraries' and the settings' own words.
_CLASS_NAMES = re.compile(r"\b[A-Z][a-z]+[A-Z]\w*|Error\b|Exception\b|Traceback")
_LEAKS = re.compile(
    r"https?:|://|127\.0\.0\.1|localhost|:\d{2,5}\b|\bport\b|qdrant|redis|celery|kombu"
    r"|psycopg|sqlalchemy|postgres|httpx|openai|errno|refused|zhiku_|[/\\]\w+[/\\]",
    re.IGNORECASE,
)


def leaks(text: str) -> list[str]:
    return [m.group(0) for pattern in (_CLASS_NAMES, _LEAKS) for m in pattern.finditer(text)]


def assert_plain_503(r: httpx.Response, component_words: str, *dead_ports: int) -> str:
    """The detail of a 503: names ``component_words``, and nothing from the failure itself."""
    assert r.status_code == 503, (r.status_code, r.text[:500])
    detail = r.json()["detail"]
    assert isinstance(detail, str) and component_words in detail.lower(), detail
    assert not leaks(detail), detail
    for port in dead_ports:
        assert str(port) not in detail, detail
    return detail


def unavailable_logs(caplog: pytest.LogCaptureFixture, component: str) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name == "api.errors" and f": {component} " in record.getMessage()
    ]


# --- the search index, the job queue, the database (and no answer model at all)


@pytest.fixture(scope="module")
def broken(pg_url, tmp_path_factory) -> Iterator[tuple[ThreadServer, dict[str, int]]]:  # type: ignore[no-untyped-def]
    ports = {"qdrant": closed_port(), "redis": closed_port()}
    settings = make_settings(
        tmp_path_factory.mktemp("broken"),
        database={"url": pg_url},
        qdrant={"url": f"http://127.0.0.1:{ports['qdrant']}", "timeout_s": 2},
        redis_url=f"redis://127.0.0.1:{ports['redis']}/0",
    )
    with ThreadServer(settings) as srv:
        yield srv, ports


@pytest.fixture(scope="module")
def world(broken: tuple[ThreadServer, dict[str, int]]) -> World:
    return World(broken[0])


@pytest.mark.parametrize("query", ["向量数据库如何备份？", "How is the vector store backed up?"])
def test_search_index_down(broken, world: World, query: str, caplog) -> None:  # type: ignore[no-untyped-def]
    _, ports = broken
    caplog.set_level(logging.WARNING)
    with world.client("bob") as bob:
        r = bob.post("/v1/search", json={"query": query}, headers={"X-Request-ID": "req-7"})
    detail = assert_plain_503(r, "search index", ports["qdrant"])
    assert detail == "The search index is unavailable right now; try again shortly."
    assert r.headers["Retry-After"] == "30"
    # The log has what the caller does not: which address failed.
    logged = unavailable_logs(caplog, "vector_store")
    assert len(logged) == 1 and "POST /v1/search (request req-7)" in logged[0], logged
    assert str(ports["qdrant"]) in logged[0] or "Qdrant" in logged[0], logged


def test_upload_with_the_job_queue_down_is_accepted_and_says_so(broken, world: World) -> None:  # type: ignore[no-untyped-def]
    srv, ports = broken
    files = [
        ("备份说明.txt", "向量库每天凌晨备份一次。".encode()),
        ("backup.txt", b"Nightly backups."),
    ]
    with world.client("bob") as bob:
        r = upload(bob, files)
        # Accepted, not refused: the files are committed, and a 503 would invite sending them
        # twice. The notice says processing waits for the queue; it names no host or port.
        assert r.status_code == 202, r.text
        notice = r.json()["notice"]
        assert "saved" in notice and "job queue" in notice and "do not upload" in notice
        assert str(ports["redis"]) not in notice and "redis" not in notice.lower()
        assert len(r.json()["data"]) == 2 and r.json()["errors"] == []
        # What the detail says is true: the documents are listed, queued, their files stored...
        listed = bob.get("/v1/documents").json()["data"]
    mine = {doc["filename"]: doc for doc in listed}
    assert set(mine) >= {"备份说明.txt", "backup.txt"}
    assert {mine[name]["status"] for name, _ in files} == {"queued"}
    ids = {mine[name]["id"] for name, _ in files}
    sessions = srv.container.sessions
    with transaction(sessions) as session:
        docs = session.scalars(select(Document).where(Document.id.in_(ids))).all()
        assert all(srv.container.blobs.exists(doc.blob_key) for doc in docs)
        # ...and the worker's sweeper picks them up once they have been quiet long enough.
        stale = {doc.id for doc in doc_queries.stale_documents(session, timedelta(0), 10_000)}
    assert ids <= stale


@contextmanager
def private_redis(port: int) -> Iterator[None]:
    """A Redis of this test's own on ``port`` (the shared one is never stopped)."""
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", ""],
        stdout=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(port=port)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        proc.wait(30)


def test_job_queue_back_after_an_outage(pg_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Redis going away and coming back: uploads are queued, saved with a notice (and left
    for the sweeper), then queued again, without restarting the API."""
    port = closed_port()
    settings = make_settings(
        tmp_path, database={"url": pg_url}, redis_url=f"redis://127.0.0.1:{port}/0"
    )
    queue = redis.Redis(port=port)
    with ThreadServer(settings) as srv, World(srv).client("bob") as bob:
        with private_redis(port):
            assert upload(bob, [("一.txt", "第一份".encode())]).status_code == 202
            assert queue.llen(PARSE_SMALL_QUEUE) == 1  # a small file: its own queue
        r = upload(bob, [("two.txt", b"second")])
        assert r.status_code == 202 and "job queue" in r.json()["notice"], r.text
        with private_redis(port):
            assert upload(bob, [("三.txt", "第三份".encode())]).status_code == 202
            assert queue.llen(PARSE_SMALL_QUEUE) == 1  # a new, empty Redis: this upload's message


def test_chat_with_no_answer_model_set_up(world: World) -> None:
    with world.client("bob") as bob:
        r = bob.post("/v1/chat", json={"message": "什么是向量数据库？", "stream": False})
        detail = assert_plain_503(r, "回答模型")
        # No language sent: the Chinese question's language stands in.
        assert detail == "此服务器未配置回答模型，请联系管理员。"
        assert "Retry-After" not in r.headers  # trying again will not help
        r = bob.post(
            "/v1/chat/completions",
            json={"model": "zhiku", "messages": [{"role": "user", "content": "What is RAG?"}]},
        )
    # An English question reads it in English.
    assert r.status_code == 503 and r.json()["error"]["message"] == (
        "The answer model is not set up on this server; ask an administrator."
    )


def test_database_down(broken, world: World, caplog) -> None:  # type: ignore[no-untyped-def]
    """PostgreSQL unreachable: a 503 naming the database, at the route and at the key check."""
    srv, _ = broken
    caplog.set_level(logging.WARNING)
    port = closed_port()
    dead = make_session_factory(make_engine(f"postgresql://postgres@127.0.0.1:{port}/test"))
    documents = srv.container.services.documents
    real_sessions = documents._sessions
    with world.client("bob") as bob:
        try:
            # The key check still reaches the database; the listing does not.
            documents._sessions = dead
            r = bob.get("/v1/documents")
        finally:
            documents._sessions = real_sessions
        assert assert_plain_503(r, "database", port) == (
            "The database is unavailable right now; try again shortly."
        )
        assert r.headers["Retry-After"] == "30"
        logged = unavailable_logs(caplog, "database")
        assert len(logged) == 1 and "GET /v1/documents" in logged[0], logged

        # Now the whole process loses it: the key check is the first to fail.
        sessions = srv.container.sessions
        real_bind = sessions.kw["bind"]
        try:
            sessions.configure(bind=dead.kw["bind"])
            r = bob.get("/v1/documents")
        finally:
            sessions.configure(bind=real_bind)
        assert_plain_503(r, "database", port)
        assert bob.get("/v1/documents").status_code == 200  # back once it is


# --- the embedding model


def test_embedding_model_down(pg_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A model folder whose weights are missing: its tokenizer loads (start-up needs it), the
    model itself cannot be opened."""
    broken = tmp_path / "weights-missing"
    shutil.copytree(default_model_dir(), broken, ignore=shutil.ignore_patterns("*.safetensors"))
    settings = make_settings(
        tmp_path, database={"url": pg_url}, embedding={"backend": "onnx", "model": str(broken)}
    )
    with ThreadServer(settings) as srv, World(srv).client("bob") as bob:
        for query in ("年假怎么申请？", "How do I apply for leave?"):
            r = bob.post("/v1/search", json={"query": query})
            detail = assert_plain_503(r, "embedding model")
            assert "weights-missing" not in detail
            assert r.headers["Retry-After"] == "30"


# --- the answer model: every backend refuses


def test_answer_model_down(pg_url, tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    backends = [dead_backend("primary"), dead_backend("fallback")]
    ports = [int(b.base_url.rsplit(":", 1)[1].split("/")[0]) for b in backends]
    settings = make_settings(
        tmp_path,
        database={"url": pg_url},
        llm={"backends": backends, "local": {"enabled": False}},
    )
    caplog.set_level(logging.WARNING)
    text = "埃特纳火山在1669年喷发，熔岩到达了尼科洛西。Etna erupted in 1669, reaching Nicolosi."
    with ThreadServer(settings) as srv, World(srv).client("bob") as bob:
        r = upload(bob, [("etna.txt", text.encode())])
        assert wait_terminal(bob, r.json()["data"][0]["id"])["status"] == "ready"
        # No language sent: each is worded in its question's language.
        for question, words in (
            ("埃特纳火山什么时候喷发？", "回答模型"),
            ("When did Etna erupt?", "answer model"),
        ):
            r = bob.post("/v1/chat", json={"message": question, "stream": False})
            detail = assert_plain_503(r, words, *ports)
            assert "primary" not in detail and "fallback" not in detail
            assert r.headers["Retry-After"] == "30"
        # Streamed: the failure comes before the first token, so it is the same 503.
        r = bob.post("/v1/chat", json={"message": "When did Etna erupt?", "stream": True})
        assert assert_plain_503(r, "answer model", *ports) == detail
        # The OpenAI-compatible endpoint words it the same, streamed or not.
        for stream in (False, True):
            r = bob.post(
                "/v1/chat/completions",
                json={
                    "model": "zhiku",
                    "messages": [{"role": "user", "content": "Etna?"}],
                    "stream": stream,
                },
            )
            assert r.headers["Retry-After"] == "30"
            assert r.status_code == 503 and r.json()["error"]["message"] == detail
    # The log names the backends that failed, for whoever runs the server.
    logged = unavailable_logs(caplog, "answer_model")
    assert logged and all("primary" in line and "fallback" in line for line in logged), logged


def test_a_document_failed_by_an_outage_names_the_component_only() -> None:
    outage = UpstreamUnavailable(
        "Qdrant unreachable: 10.0.0.5:6333 timed out", component=Component.VECTOR_STORE
    )
    assert RetryPolicy(max_retries=2).decide(outage, 2) == Fail(
        "the search index was unavailable, retried 2 times"
    )
