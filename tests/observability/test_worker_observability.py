"""A real Celery worker process (prefork) behind a real API process: the worker's /metrics
sums its child's stage durations, the upload's request id is on the worker's JSON log lines
for those documents, and the worker's task spans join the upload request's trace."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from core.settings import Settings
from tests.live import free_port, process, wait_http, zhiku_env
from tests.observability.scrape import label_values, scrape, value
from zhiku import admin_commands

pytestmark = pytest.mark.slow  # real API and worker processes

TOKEN = "scrape-token-for-tests-only"
REQUEST_ID = "upload-obs-42"
FILES = [
    ("茶叶.txt", "龙井茶产于杭州西湖一带，采摘后经过杀青、揉捻和干燥。".encode()),
    ("etna.md", b"# Etna\n\nMount Etna in Sicily erupts often; ash closes Catania airport.\n"),
]


def _json_lines(path) -> list[dict]:  # type: ignore[no-untyped-def]
    lines = []
    for raw in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if raw.startswith("{"):
            try:
                lines.append(json.loads(raw))
            except json.JSONDecodeError:
                continue
    return lines


@pytest.fixture(scope="module")
def stack(module_pg_url, redis_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    pg_url = module_pg_url
    data_dir = tmp_path_factory.mktemp("observed")
    worker_port = free_port()
    env = zhiku_env(
        {
            "ZHIKU_DATA_DIR": str(data_dir),
            "ZHIKU_DATABASE__URL": pg_url,
            "ZHIKU_REDIS_URL": redis_url,
            "ZHIKU_SECRET_KEY": "observed-test-secret",
            "ZHIKU_LLM__LOCAL__ENABLED": "false",
            "ZHIKU_OBSERVABILITY__LOG_FORMAT": "json",
            "ZHIKU_OBSERVABILITY__TRACES": "console",
            "ZHIKU_OBSERVABILITY__METRICS_TOKEN": TOKEN,
            "ZHIKU_OBSERVABILITY__WORKER_METRICS_PORT": str(worker_port),
        }
    )
    settings = Settings(
        data_dir=data_dir, database={"url": pg_url}, secret_key="observed-test-secret"
    )
    admin_commands.create_tenant(settings, "acme")
    admin_commands.create_user(settings, "acme", "ops", is_admin=True)
    key = admin_commands.create_key(settings, "acme", "ops").plaintext
    port = free_port()
    with process(["serve", "--port", str(port)], env, data_dir / "api.log") as server:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/health/live", proc=server)
        client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=60)
        r = client.post(
            "/v1/documents",
            files=[("files", f) for f in FILES],
            data={"access": json.dumps({"everyone": True})},
            headers={"X-Request-ID": REQUEST_ID},
        )
        assert r.status_code == 202, r.text
        assert r.headers["X-Request-ID"] == REQUEST_ID
        ids = [d["id"] for d in r.json()["data"]]
        # Queued, no worker yet: the broker and the database both show the backlog.
        waiting = scrape(url + "/metrics", TOKEN)
        worker_log = data_dir / "worker.log"
        with process(["worker", "--queues", "parse,embed"], env, worker_log) as worker:
            metrics_url = f"http://127.0.0.1:{worker_port}/metrics"
            wait_http(metrics_url, proc=worker)  # 401 below 500: it answers
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                docs = [client.get(f"/v1/documents/{i}").json() for i in ids]
                if all(d["status"] in ("ready", "failed") for d in docs):
                    break
                time.sleep(0.3)
            assert [d["status"] for d in docs] == ["ready", "ready"], docs
            refused = httpx.get(metrics_url)
            worker_samples = scrape(metrics_url, TOKEN)
            drained = scrape(url + "/metrics", TOKEN)
        yield {
            "ids": ids,
            "waiting": waiting,
            "drained": drained,
            "worker_samples": worker_samples,
            "refused": refused,
            "worker_log": worker_log,
            "api_log": data_dir / "api.log",
            "api_url": url,
        }
        client.close()


def test_worker_metrics_sum_the_prefork_child(stack: dict) -> None:
    assert stack["refused"].status_code == 401  # a token is set: nothing without it
    samples = stack["worker_samples"]
    stages = "zhiku_ingest_stage_duration_seconds_count"
    assert {"parse", "embed", "index"} <= label_values(samples, stages, "stage")
    for stage in ("parse", "embed", "index"):
        assert value(samples, stages, stage=stage) >= 1
        assert value(samples, "zhiku_ingest_stage_duration_seconds_sum", stage=stage) > 0
    assert value(samples, "zhiku_ingest_documents_total", stage="parse", outcome="embed-next") == 2
    assert value(samples, "zhiku_ingest_documents_total", stage="embed", outcome="done") == 2
    assert value(samples, "zhiku_ingest_chunks_total") >= 2


def test_api_metrics_show_the_queues(stack: dict) -> None:
    assert httpx.get(stack["api_url"] + "/metrics").status_code == 401
    depth = "zhiku_ingest_queue_depth"
    waiting, drained = stack["waiting"], stack["drained"]
    # Before any worker: one message (both files, small) on the small-file queue, none on
    # the large files', two stored documents.
    assert value(waiting, depth, queue="zhiku.parse-small", source="broker") == 1
    assert value(waiting, depth, queue="zhiku.parse", source="broker") == 0
    assert value(waiting, depth, queue="stored", source="database") == 2
    assert value(drained, depth, queue="zhiku.parse-small", source="broker") == 0
    assert value(drained, depth, source="database") == 0
    http = "zhiku_http_request_duration_seconds_count"
    assert value(drained, http, method="POST", route="/v1/documents", status="202") == 1
    assert value(drained, http, route="/v1/documents/{doc_id}", status="200") >= 2


def test_request_id_reaches_the_worker_log_lines(stack: dict) -> None:
    lines = [line for line in _json_lines(stack["worker_log"]) if "message" in line]
    ours = [line for line in lines if line.get("request_id") == REQUEST_ID]
    parse_id, embed_id = stack["ids"]
    text = " ".join(line["message"] for line in ours)
    # The parse task (in the child) and the embed task it queued both carry the id.
    assert "parse stage: 2 documents" in text and "embed stage" in text
    assert parse_id in text and embed_id in text
    assert all(line["logger"] for line in ours)
    # The API's own lines for the upload carry it too (uvicorn's access line).
    api_lines = [line for line in _json_lines(stack["api_log"]) if "message" in line]
    access = [line for line in api_lines if line.get("request_id") == REQUEST_ID]
    assert any("/v1/documents" in line["message"] for line in access), access


def test_task_spans_join_the_upload_trace(stack: dict) -> None:
    api_spans = [s for s in _json_lines(stack["api_log"]) if "context" in s and "name" in s]
    (upload,) = [
        s for s in api_spans if (s.get("attributes") or {}).get("zhiku.request_id") == REQUEST_ID
    ]
    trace_id = upload["context"]["trace_id"]
    worker_spans = [s for s in _json_lines(stack["worker_log"]) if "context" in s and "name" in s]
    joined = {s["name"] for s in worker_spans if s["context"]["trace_id"] == trace_id}
    assert {
        "celery.task zhiku.ingest.parse_many",
        "celery.task zhiku.ingest.embed_many",
        "ingest.parse",
        "ingest.embed",
        "ingest.index",
        "qdrant.upsert",
    } <= joined, joined
    sends = {s["context"]["span_id"] for s in api_spans if s["name"] == "celery.send"}
    parse_task = next(s for s in worker_spans if s["name"] == "celery.task zhiku.ingest.parse_many")
    assert parse_task["parent_id"] in sends
