"""OpenTelemetry traces, recorded by the SDK's in-memory exporter in this process: a search
request's span and its retrieval stages form one trace, and an upload's Celery message carries
that trace (the worker's task span joins it: ``test_worker_observability``)."""

from __future__ import annotations

import json

import pytest
import redis
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.api.world import World, seeded_world, upload
from tests.live import ThreadServer
from tests.support import make_settings
from workers.queues import PARSE_SMALL_QUEUE

DOCS = {
    "volcano.txt": "Volcanoes\n\nMount Etna in Sicily erupts often; ash closes Catania airport.",
    "tea.txt": "绿茶的制作\n\n龙井茶产于杭州西湖一带，采摘后经过杀青、揉捻和干燥。",
}
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    """The process's tracer provider (set once per process), recording into memory."""
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


def _trace(exporter: InMemorySpanExporter, trace_id: int) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.context.trace_id == trace_id]


def _ancestors(exporter: InMemorySpanExporter, span: ReadableSpan) -> list[int]:
    """The span ids above ``span`` (FastAPI's own spans may sit between route and stage)."""
    by_id = {s.context.span_id: s for s in exporter.get_finished_spans()}
    ids = []
    while span.parent is not None:
        ids.append(span.parent.span_id)
        if span.parent.span_id not in by_id:
            break
        span = by_id[span.parent.span_id]
    return ids


def _server_span(exporter: InMemorySpanExporter, request_id: str) -> ReadableSpan:
    (span,) = [
        s
        for s in exporter.get_finished_spans()
        if s.kind is trace.SpanKind.SERVER and s.attributes.get("zhiku.request_id") == request_id
    ]
    return span


def test_search_request_spans_cover_the_retrieval_stages(
    spans: InMemorySpanExporter, tmp_path_factory
) -> None:  # type: ignore[no-untyped-def]
    with ThreadServer(make_settings(tmp_path_factory.mktemp("traces"))) as server:
        world: World = seeded_world(server, DOCS)
        spans.clear()
        with world.client("bob") as bob:
            r = bob.post(
                "/v1/search",
                json={"query": "Etna ash"},
                headers={
                    "X-Request-ID": "trace-en",
                    "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01",
                },
            )
            assert r.status_code == 200 and r.json()["results"]
            r = bob.post(
                "/v1/search", json={"query": "龙井茶"}, headers={"X-Request-ID": "trace-zh"}
            )
            assert r.status_code == 200 and r.json()["results"]

    english = _server_span(spans, "trace-en")
    assert english.name == "POST /v1/search"
    assert english.kind is trace.SpanKind.SERVER
    assert english.attributes["http.route"] == "/v1/search"
    assert english.attributes["http.response.status_code"] == 200
    # The caller's trace continues: its traceparent is the server span's parent.
    assert format(english.context.trace_id, "032x") == TRACE_ID
    assert format(english.parent.span_id, "016x") == "00f067aa0ba902b7"
    by_name = {s.name: s for s in _trace(spans, english.context.trace_id)}
    assert {
        "retrieval.search",
        "retrieval.dense_encode",
        "retrieval.sparse_encode",
        "qdrant.query",
    } <= set(by_name)
    search = by_name["retrieval.search"]
    assert english.context.span_id in _ancestors(spans, search)
    for stage in ("retrieval.dense_encode", "retrieval.sparse_encode", "qdrant.query"):
        assert by_name[stage].parent.span_id == search.context.span_id
    assert by_name["qdrant.query"].kind is trace.SpanKind.CLIENT
    # One engine call with both legs (retrieval.leg_threads 0, the default).
    legs = [s for s in _trace(spans, english.context.trace_id) if s.name == "qdrant.query"]
    assert [s.attributes["leg"] for s in legs] == ["dense+sparse"]

    chinese = _server_span(spans, "trace-zh")
    names = {s.name for s in _trace(spans, chinese.context.trace_id)}
    # An English-only dense model: a Chinese query runs on keywords alone.
    assert {"retrieval.search", "retrieval.sparse_encode", "qdrant.query"} <= names
    assert chinese.context.trace_id != english.context.trace_id


def test_upload_message_carries_the_request_trace(
    spans: InMemorySpanExporter, redis_url: str, tmp_path_factory
) -> None:  # type: ignore[no-untyped-def]
    """With a broker, an upload's Celery message carries its trace and its request id."""
    broker = redis.Redis.from_url(redis_url)
    broker.delete(PARSE_SMALL_QUEUE)
    settings = make_settings(tmp_path_factory.mktemp("traces-celery"), redis_url=redis_url)
    with ThreadServer(settings) as server:
        world = World(server)
        spans.clear()
        with world.client("ann") as ann:
            r = upload(
                ann,
                [("说明.txt", "上传的说明文件：龙井茶。".encode()), ("notes.txt", b"Etna notes")],
                access={"everyone": True},
            )
            assert r.status_code == 202, r.text
            request_id = r.headers["X-Request-ID"]
    messages = [json.loads(raw) for raw in broker.lrange(PARSE_SMALL_QUEUE, 0, -1)]
    broker.delete(PARSE_SMALL_QUEUE)
    assert len(messages) == 1  # both (small) documents in one message
    headers = messages[0]["headers"]
    assert headers["zhiku_request_id"] == request_id
    server_span = _server_span(spans, request_id)
    assert server_span.name == "POST /v1/documents"
    sends = [s for s in _trace(spans, server_span.context.trace_id) if s.name == "celery.send"]
    assert len(sends) == 1 and sends[0].kind is trace.SpanKind.PRODUCER
    _, trace_id, parent_id, _ = headers["traceparent"].split("-")
    assert trace_id == format(server_span.context.trace_id, "032x")
    # The task's span will be the child of the send.
    assert parent_id == format(sends[0].context.span_id, "016x")
