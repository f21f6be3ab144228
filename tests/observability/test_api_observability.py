"""The API's /metrics, request ids and JSON logs, over real HTTP against the running app (the
embedded default: ingestion runs in the serving process, so its series are scraped here too)."""

from __future__ import annotations

import json
import logging
import re

import httpx
import pytest

from core import logs
from tests.api.world import World, seeded_world
from tests.live import ThreadServer
from tests.observability.scrape import label_values, parse, scrape, value
from tests.support import make_settings

DOCS = {
    "volcano.txt": "Volcanoes\n\nMount Etna in Sicily erupts often; ash closes Catania airport.",
    "tea.txt": "绿茶的制作\n\n龙井茶产于杭州西湖一带，采摘后经过杀青、揉捻和干燥。",
    "tea-hant.txt": "綠茶的製作\n\n龍井茶產於杭州西湖一帶，明前茶在清明節之前採摘。",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):  # type: ignore[no-untyped-def]
    with ThreadServer(make_settings(tmp_path_factory.mktemp("observability"))) as srv:
        yield srv


@pytest.fixture(scope="module")
def world(server: ThreadServer) -> World:
    return seeded_world(server, DOCS)


def test_search_and_upload_show_in_metrics(server: ThreadServer, world: World) -> None:
    before = parse(httpx.get(server.url + "/metrics").text)
    with world.client("bob") as bob:
        for query in ("Etna ash airport", "龙井茶的制作", "龍井茶產於哪裡"):
            r = bob.post("/v1/search", json={"query": query})
            assert r.status_code == 200, r.text
            assert r.json()["results"], query
        doc_id = world.doc_ids["volcano.txt"]  # type: ignore[attr-defined]
        assert bob.get(f"/v1/documents/{doc_id}").status_code == 200
        assert bob.get("/v1/documents/no-such-document").status_code == 404
    samples = scrape(server.url + "/metrics")

    http = "zhiku_http_request_duration_seconds_count"
    searched = value(samples, http, method="POST", route="/v1/search", status="200")
    assert searched - value(before, http, method="POST", route="/v1/search", status="200") == 3
    routes = label_values(samples, http, "route")
    # Templates, never a raw path: no document id (nor any made-up one) mints a series.
    assert "/v1/documents/{doc_id}" in routes
    assert value(samples, http, route="/v1/documents/{doc_id}", status="404") >= 1
    assert not [r for r in routes if doc_id in r or "no-such-document" in r]
    # The uploads (multipart, 202) by their route.
    assert value(samples, http, method="POST", route="/v1/documents", status="202") >= 1

    stages = "zhiku_retrieval_stage_duration_seconds_count"
    assert {"dense_encode", "sparse_encode", "search"} <= label_values(samples, stages, "stage")
    # Chinese queries under an English-only dense model run on keywords alone.
    assert value(samples, stages, stage="search") >= 3

    ingest = "zhiku_ingest_stage_duration_seconds_count"
    assert {"parse", "embed", "index"} <= label_values(samples, ingest, "stage")
    assert value(samples, "zhiku_ingest_documents_total", stage="embed", outcome="done") >= 3
    assert value(samples, "zhiku_ingest_chunks_total") >= 3
    depth = [s for s in samples if s.name == "zhiku_ingest_queue_depth"]
    # No broker in the embedded default: the database's view, every stage, nothing waiting.
    assert {(s.labels["queue"], s.labels["source"]) for s in depth} == {
        ("stored", "database"),
        ("parsing", "database"),
        ("embedding", "database"),
    }
    assert all(s.value == 0 for s in depth)


def test_unauthenticated_refusals_are_timed_by_route(server: ThreadServer) -> None:
    r = httpx.post(server.url + "/v1/search", json={"query": "x"})
    assert r.status_code == 401
    samples = scrape(server.url + "/metrics")
    http = "zhiku_http_request_duration_seconds_count"
    assert value(samples, http, route="/v1/search", status="401") >= 1
    # A path no number can contain: a digit string once matched a sample's value.
    r = httpx.get(server.url + "/v1/nothing/here/probe-zq")
    after = scrape(server.url + "/metrics")
    assert value(after, http, route="unmatched") >= 1
    labels = {v for s in after for v in s.labels.values()}
    assert not any("probe-zq" in v for v in labels)
    assert "probe-zq" not in httpx.get(server.url + "/metrics").text


def test_metrics_refused_through_a_proxy_without_a_token(server: ThreadServer) -> None:
    """No token is set: loopback callers only, and a proxy would make everyone loopback."""
    for header in ("X-Forwarded-For", "Forwarded"):
        r = httpx.get(server.url + "/metrics", headers={header: "203.0.113.9"})
        assert r.status_code == 403
        assert "loopback" in r.json()["detail"]
    r = httpx.get(
        server.url + "/metrics",
        headers={"X-Forwarded-For": "203.0.113.9", "Accept-Language": "zh-CN"},
    )
    assert r.json()["detail"] == "未设置指标令牌时，指标仅对本机回环地址的客户端开放"


def test_request_id_round_trip(server: ThreadServer, world: World) -> None:
    with world.client("bob") as bob:
        given = "req-7f3a:batch.42"
        r = bob.post("/v1/search", json={"query": "龙井"}, headers={"X-Request-ID": given})
        assert r.headers["X-Request-ID"] == given
        made = bob.get("/v1/me").headers["X-Request-ID"]
        assert re.fullmatch(r"[0-9a-f]{32}", made)
        # Too long, or characters a log line must not carry: replaced, never echoed.
        for bad in ("x" * 200, "a b", "<script>", "id\u00e9"):
            raw = bad.encode("latin-1")
            echoed = bob.get("/v1/me", headers=[(b"X-Request-ID", raw)]).headers["X-Request-ID"]
            assert echoed != bad and re.fullmatch(r"[0-9a-f]{32}", echoed)
    # Refusals before any route carry one too.
    r = httpx.get(server.url + "/v1/me", headers={"X-Request-ID": "anon-1"})
    assert r.status_code == 401 and r.headers["X-Request-ID"] == "anon-1"


def test_log_lines_of_a_request_carry_its_id(server: ThreadServer, world: World, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """JSON logs: a line logged while a request is served (uvicorn's access line, logged from
    inside the app's response) carries the request's id; a line outside any request, ``-``."""
    path = tmp_path / "api.log"
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.addFilter(logs.RequestIdFilter())
    handler.setFormatter(logs.JsonFormatter())
    access = logging.getLogger("uvicorn.access")
    level = access.level
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    logging.getLogger().addHandler(handler)
    try:
        with world.client("ann") as ann:
            given = ann.post(
                "/v1/search", json={"query": "龍井茶"}, headers={"X-Request-ID": "search-42"}
            ).headers["X-Request-ID"]
            made = ann.post("/v1/search", json={"query": "Etna"}).headers["X-Request-ID"]
        logging.getLogger("tests.observability").warning("outside any request: 綠茶")
    finally:
        access.removeHandler(handler)
        access.setLevel(level)
        logging.getLogger().removeHandler(handler)
        handler.close()
    lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    by_id = {line["request_id"]: line for line in lines if line["logger"] == "uvicorn.access"}
    assert given == "search-42"
    assert "/v1/search" in by_id["search-42"]["message"]
    assert "/v1/search" in by_id[made]["message"]
    outside = [line for line in lines if line["message"] == "outside any request: 綠茶"]
    assert outside and outside[0]["request_id"] == "-"


def test_every_response_says_nosniff_once(server: ThreadServer, world: World) -> None:
    # A JSON error echoing a caller's text, a static script, a page and an answer: a browser
    # must take each as its Content-Type says, never sniff it as HTML.
    with world.client("bob") as bob:
        responses = [
            httpx.post(server.url + "/v1/search", json={"query": "<script>x</script>"}),
            bob.post("/v1/search", json={"query": "<b>龍井</b>"}),
            bob.get("/v1/nothing/<svg onload=alert(1)>"),
            httpx.get(server.url + "/health/live"),
        ]
    for r in responses:
        assert r.headers.get_list("x-content-type-options") == ["nosniff"], r.url
