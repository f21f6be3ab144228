"""Every Prometheus series Zhiku exports, defined once; the layers that observe import them.

Labels are bounded sets only: a route's template (``/v1/documents/{doc_id}``, never the raw
path), a status code, a stage, a backend's configured name. Never a document, user, tenant
or query: each label value is a series kept forever by Prometheus.

Processes: the API serves its own registry at ``/metrics`` (``api.observability``). A Celery
worker runs prefork children; each child's values go to files in ``PROMETHEUS_MULTIPROC_DIR``
(prometheus_client's multiprocess mode, chosen by that variable being set before
``prometheus_client`` is first imported) and the worker's main process serves their sum
(``workers.metrics_endpoint``). Queue depth is read when scraped (``QueueDepthCollector``),
on the API only, so several workers do not report the same queue several times.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from core import tracing
from core.addresses import is_loopback_address

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# --- the API

HTTP_REQUEST_SECONDS = Histogram(
    "zhiku_http_request_duration_seconds",
    "Time to answer an HTTP request (to the end of its body, streams included).",
    ["method", "route", "status"],
)
UNMATCHED_ROUTE = "unmatched"  # a path no route serves (404s): one series for all of them

# --- ingestion

_STAGE_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
INGEST_STAGE_SECONDS = Histogram(
    "zhiku_ingest_stage_duration_seconds",
    "One call of an ingestion stage over a group of documents: parse (a wave of files through"
    " the parser), embed (a slice of chunks through the model), index (a slice's upsert and"
    " progress).",
    ["stage"],
    buckets=_STAGE_BUCKETS,
)
INGEST_DOCUMENTS = Counter(
    "zhiku_ingest_documents_total",
    "Documents that left a stage, by how (done, next stage, retry, failed, skipped).",
    ["stage", "outcome"],
)
INGEST_CHUNKS = Counter("zhiku_ingest_chunks_total", "Chunks embedded and written.")
QUEUE_DEPTH_NAME = "zhiku_ingest_queue_depth"

# --- retrieval

RETRIEVAL_STAGE_SECONDS = Histogram(
    "zhiku_retrieval_stage_duration_seconds",
    "One stage of a search: dense_encode and sparse_encode (the query's vectors), search (the"
    " engine's dense and sparse legs and their fusion, one query), rerank.",
    ["stage", "mode"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)

# --- answer models

LLM_TOKENS = Counter(
    "zhiku_llm_tokens_total",
    "Tokens by backend and kind (prompt, completion), as the backend counted them; a stream"
    " without a usage chunk (llama-cpp-python) counts its content chunks as completion tokens.",
    ["backend", "kind"],
)
LLM_TIME_TO_FIRST_TOKEN = Histogram(
    "zhiku_llm_time_to_first_token_seconds",
    "From sending a streamed request to its first token, retries included.",
    ["backend"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60),
)
LLM_REQUEST_SECONDS = Histogram(
    "zhiku_llm_request_duration_seconds",
    "A whole LLM call (complete, or stream to its end) by backend and call.",
    ["backend", "call"],
    buckets=(0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60, 120, 300),
)
LLM_ERRORS = Counter(
    "zhiku_llm_errors_total",
    "Failed LLM calls by backend and kind: unavailable (after retries), rejected (the request"
    " refused), interrupted (failed mid-stream), retried (one transient failure, retried).",
    ["backend", "kind"],
)


LLM_ANSWERS_REFUSED = Counter(
    "zhiku_llm_answers_refused_total",
    "Answers refused (429) because the answering backend had every slot and its queue taken.",
    ["backend"],
)
ANSWERS_IN_FLIGHT_NAME = "zhiku_llm_answers_in_flight"
ANSWER_CAPACITY_NAME = "zhiku_llm_answer_capacity"


class AnswerLoadCollector(Collector):
    """Read at scrape time: ``zhiku_llm_answers_in_flight{backend, state}`` (generating,
    waiting) and ``zhiku_llm_answer_capacity{backend, kind}`` (slots, queue) of the answering
    backend. ``read`` returns (backend, generating, waiting, slots, queue) rows; counts shared
    through Redis are every API process's. A failed read drops the series for that scrape."""

    def __init__(self, read: Callable[[], Iterable[tuple[str, int, int, int, int]]]) -> None:
        self._read = read

    def collect(self) -> Iterable[Metric]:
        in_flight = GaugeMetricFamily(
            ANSWERS_IN_FLIGHT_NAME,
            "Answers at the answering backend: generating, or admitted and waiting for a slot.",
            labels=["backend", "state"],
        )
        capacity = GaugeMetricFamily(
            ANSWER_CAPACITY_NAME,
            "Answers the answering backend generates at once (slots) and may wait (queue).",
            labels=["backend", "kind"],
        )
        try:
            rows = list(self._read())
        except Exception:
            rows = []
        for backend, generating, waiting, slots, queue in rows:
            in_flight.add_metric([backend, "generating"], generating)
            in_flight.add_metric([backend, "waiting"], waiting)
            capacity.add_metric([backend, "slots"], slots)
            capacity.add_metric([backend, "queue"], queue)
        yield in_flight
        yield capacity


class QueueDepthCollector(Collector):
    """``zhiku_ingest_queue_depth{queue, source}`` read at scrape time: ``read`` returns
    {(queue, source): depth}; source ``broker`` is messages in a Celery queue, ``database``
    documents waiting at a stage. A failed read drops the series for that scrape (a gap in
    the graph) rather than failing the whole scrape."""

    def __init__(self, read: Callable[[], Mapping[tuple[str, str], int]]) -> None:
        self._read = read

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            QUEUE_DEPTH_NAME,
            "Work waiting: messages in a broker queue, or documents waiting at a stage.",
            labels=["queue", "source"],
        )
        try:
            depths = self._read()
        except Exception:
            depths = {}
        for (queue, source), depth in sorted(depths.items()):
            family.add_metric([queue, source], depth)
        yield family


@contextmanager
def timed(
    series: Any, span_name: str, kind: str = tracing.INTERNAL, **attributes: object
) -> Iterator[Any]:
    """Observe the block's duration into ``series`` (a labelled histogram child) and record
    it as a span; yields the span (None when tracing is off)."""
    started = time.perf_counter()
    with tracing.span(span_name, kind, **attributes) as current:
        try:
            yield current  # an exception is recorded on the span by OpenTelemetry itself
        finally:
            series.observe(time.perf_counter() - started)


def metric_names(registry: CollectorRegistry = REGISTRY) -> set[str]:
    """The names a query may use: each family's name and its samples' (``_bucket``, ``_sum``,
    ``_count``, ``_total``), so a dashboard can be checked against what exists."""
    names: set[str] = set()
    for family in registry.collect():
        names.add(family.name)
        names.update(sample.name for sample in family.samples)
    return names


def multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


def scrape_refusal(
    token: str, authorization: str | None, client_host: str | None, proxied: bool
) -> str | None:
    """Why this scrape is refused (the caller answers 401/403), None: allowed. With a token,
    only its bearer; without, only a loopback client not relayed by a proxy (a proxy on the
    same host would make every outside caller look local)."""
    if token:
        scheme, _, presented = (authorization or "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            presented.strip().encode(), token.encode()
        ):
            return None
        return "missing or wrong metrics token: send 'Authorization: Bearer <token>'"
    if proxied or not is_loopback_address(client_host):
        return "metrics are served to loopback clients only unless a metrics token is set"
    return None
