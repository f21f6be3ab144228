"""One measured ingestion over HTTP: several clients upload the files, many per request, to a
running deployment (``bench.http_stack``); the clock runs from the first upload to the moment
the last document is ``ready`` or ``failed``, as the documents list reports it.

Polling asks the list for one row with a status filter: its ``count`` is the number of
documents in that status, one cheap query per poll. After the clock stops, the list is read in
pages of 500 for each document's facts (chunks, errors, reuse, timestamps).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from bench.common import percentile
from bench.corpora import SourceDoc
from bench.http_stack import Stack, TreeSampler

MIME = {
    "txt": "text/plain",
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
}
ACCESS = json.dumps({"everyone": True})


@dataclass
class HttpRun:
    deployment: str
    corpus: str
    documents: int
    accepted: int = 0
    rejected: int = 0
    ready: int = 0
    failed: int = 0
    reused: int = 0
    chunks: int = 0
    wall_s: float = 0.0
    upload_s: float = 0.0  # first upload sent → last upload answered
    drain_s: float = 0.0  # last upload answered → last document ready
    first_ready_s: float = 0.0
    # Last document ready by the server's own timestamps (no poll granularity).
    server_span_s: float = 0.0
    requests: dict[str, Any] = field(default_factory=dict)
    resources: dict[str, Any] = field(default_factory=dict)
    failures: list[dict[str, str]] = field(default_factory=list)
    upload_errors: list[str] = field(default_factory=list)


def client(stack: Stack, key: str, timeout_s: float = 600.0) -> httpx.Client:
    return httpx.Client(
        base_url=stack.url, headers={"Authorization": f"Bearer {key}"}, timeout=timeout_s
    )


def count(http: httpx.Client, status: str) -> int:
    try:
        r = http.get("/v1/documents", params={"status": status, "limit": 1})
    except (httpx.ReadError, httpx.RemoteProtocolError):
        # A kept-alive connection the server closed as this poll went out (seen after the
        # server stalled past its keep-alive timeout): once more, on a fresh connection.
        r = http.get("/v1/documents", params={"status": status, "limit": 1})
    r.raise_for_status()
    return int(r.json()["count"])


def terminal(http: httpx.Client) -> tuple[int, int]:
    return count(http, "ready"), count(http, "failed")


def upload(
    stack: Stack, key: str, docs: Sequence[SourceDoc], per_request: int, clients: int
) -> tuple[list[str], list[dict[str, Any]], list[str]]:
    """``clients`` threads, each with its own connection, take the next ``per_request`` files
    until none are left. Returns the accepted ids, one record per request, and errors."""
    work: queue.Queue[list[SourceDoc]] = queue.Queue()
    for start in range(0, len(docs), per_request):
        work.put(list(docs[start : start + per_request]))
    ids: list[str] = []
    records: list[dict[str, Any]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def run() -> None:
        with client(stack, key) as http:
            while True:
                try:
                    batch = work.get_nowait()
                except queue.Empty:
                    return
                files = [("files", (d.filename, d.data, MIME[d.kind])) for d in batch]
                started = time.perf_counter()
                try:
                    r = http.post("/v1/documents", files=files, data={"access": ACCESS})
                    body = r.json() if r.headers.get("content-type", "").startswith("appl") else {}
                except httpx.HTTPError as exc:
                    r, body = None, {"detail": f"{type(exc).__name__}: {exc}"}
                ended = time.perf_counter()
                accepted = [d["id"] for d in body.get("data", [])] if r is not None else []
                with lock:
                    ids.extend(accepted)
                    status = r.status_code if r is not None else 0
                    records.append(
                        {"files": len(batch), "started": started, "ended": ended, "status": status}
                    )
                    if status != 202 or body.get("errors"):
                        errors.append(f"{status or 'no answer'}: {body}"[:500])

    threads = [threading.Thread(target=run, name=f"bench-upload-{n}") for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return ids, records, errors


def wait_until(
    http: httpx.Client,
    expected: int,
    stack: Stack,
    timeout_s: float,
    poll_s: float = 0.25,
    first: dict[str, float] | None = None,
) -> bool:
    """Poll until ``expected`` documents of the tenant are ready or failed. With ``first``
    (``{"baseline": n}``), also note in it when the ready count first passed the baseline."""
    deadline = time.monotonic() + timeout_s
    polls = 0
    failed = 0
    while time.monotonic() < deadline:
        ready = count(http, "ready")
        if first is not None and "at" not in first and ready > first["baseline"]:
            first["at"] = time.perf_counter()
        if polls % 8 == 0 or ready + failed >= expected:  # failures are rare: ask less often
            failed = count(http, "failed")
        if ready + failed >= expected:
            return True
        polls += 1
        if polls % 40 == 0:
            stack.check_alive()
        time.sleep(poll_s)
    return False


def warm_up(stack: Stack, docs: Sequence[SourceDoc], timeout_s: float = 900.0) -> float:
    """Cold start outside the clock (the parse child, the model, the store; in the Celery
    deployment the worker's start), in the warm-up tenant."""
    started = time.perf_counter()
    ids, _, errors = upload(stack, stack.warmup_key, docs, len(docs), 1)
    if errors:
        raise RuntimeError(f"{stack.name}: warm-up upload failed: {errors}")
    with client(stack, stack.warmup_key) as http:
        if not wait_until(http, len(ids), stack, timeout_s):
            raise TimeoutError(
                f"{stack.name}: warm-up documents not ready after {timeout_s:.0f} s\n"
                + stack.log_tail()
            )
    return round(time.perf_counter() - started, 2)


def run_http(
    stack: Stack,
    corpus: str,
    docs: Sequence[SourceDoc],
    per_request: int,
    clients: int,
    timeout_s: float = 7200.0,
    poll_s: float = 0.25,
) -> HttpRun:
    run = HttpRun(stack.name, corpus, len(docs))
    with client(stack, stack.key) as http:
        before_ready, before_failed = terminal(http)  # earlier rounds, same tenant
        got: dict[str, Any] = {}
        with TreeSampler(stack.pids()) as sampler:
            t0 = time.perf_counter()

            def send() -> None:
                got["ids"], got["records"], got["errors"] = upload(
                    stack, stack.key, docs, per_request, clients
                )

            uploader = threading.Thread(target=send, name="bench-uploads")
            uploader.start()
            first: dict[str, float] = {"baseline": before_ready}
            while uploader.is_alive():  # the first document may be ready before the last upload
                if "at" not in first and count(http, "ready") > before_ready:
                    first["at"] = time.perf_counter()
                uploader.join(poll_s)
            uploaded = time.perf_counter()
            ids = got["ids"]
            expected = before_ready + before_failed + len(ids)
            done = wait_until(http, expected, stack, timeout_s, poll_s, first)
            ended = time.perf_counter()
        if not done:
            raise TimeoutError(f"{stack.name} {corpus}: not done after {timeout_s:.0f} s")
        rows = list_all(http, set(ids))
    run.first_ready_s = round(first.get("at", ended) - t0, 2)
    run.accepted, run.rejected = len(ids), len(docs) - len(ids)
    run.upload_errors = got["errors"][:20]
    run.wall_s = round(ended - t0, 3)
    run.upload_s = round(uploaded - t0, 3)
    run.drain_s = round(ended - uploaded, 3)
    run.requests = request_facts(got["records"], clients, per_request)
    run.resources = {
        **{f"{name}_peak_rss_mib": u.peak_rss_mib for name, u in sampler.use.items()},
        **{f"{name}_cpu_s": u.cpu_s for name, u in sampler.use.items()},
        **{f"{name}_processes": u.processes for name, u in sampler.use.items()},
        "peak_rss_mib": round(sum(u.peak_rss_mib for u in sampler.use.values()), 1),
        "cpu_s": round(sum(u.cpu_s for u in sampler.use.values()), 2),
        "client_cpu_s": sampler.client_cpu_s,
        "load_mean": sampler.load_mean,
        "load_max": sampler.load_max,
    }
    collect(run, rows)
    return run


def list_all(http: httpx.Client, wanted: set[str]) -> list[dict[str, Any]]:
    """Every document of the tenant in pages of 500; those in ``wanted``."""
    rows: list[dict[str, Any]] = []
    offset = 0
    while True:
        r = http.get("/v1/documents", params={"offset": offset, "limit": 500})
        r.raise_for_status()
        page = r.json()
        rows += [d for d in page["data"] if d["id"] in wanted]
        offset += len(page["data"])
        if not page["data"] or offset >= page["count"]:
            return rows


def collect(run: HttpRun, rows: list[dict[str, Any]]) -> None:
    created, updated = [], []
    for doc in rows:
        created.append(_time(doc["created_at"]))
        if doc["status"] == "ready":
            run.ready += 1
            run.chunks += int(doc["progress"]["chunks_total"])
            updated.append(_time(doc["updated_at"]))
        elif doc["status"] == "failed":
            run.failed += 1
            updated.append(_time(doc["updated_at"]))
            run.failures.append({"file": doc["filename"], "error": doc.get("error") or ""})
        run.reused += doc.get("reused_from") is not None
    if created and updated:
        run.server_span_s = round(max(updated) - min(created), 3)
    run.failures = run.failures[:50]


def _time(stamp: str) -> float:
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    # SQLite hands timestamps back without their zone; they were written in UTC.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def request_facts(records: list[dict[str, Any]], clients: int, per_request: int) -> dict[str, Any]:
    latencies = [r["ended"] - r["started"] for r in records]
    files = sum(r["files"] for r in records)
    return {
        "clients": clients,
        "files_per_request": per_request,
        "requests": len(records),
        "non_202": sum(r["status"] != 202 for r in records),
        "latency_p50_ms": round(1000 * percentile(latencies, 0.5), 1),
        "latency_p95_ms": round(1000 * percentile(latencies, 0.95), 1),
        "latency_max_ms": round(1000 * max(latencies, default=0.0), 1),
        # Server time per file as clients saw it: request time summed, over the files.
        "ms_per_file": round(1000 * sum(latencies) / max(1, files), 2),
    }
