"""A Celery worker's ``/metrics``: the sum over its prefork children, served by its main
process (``ZHIKU_OBSERVABILITY__WORKER_METRICS_PORT``).

Tasks run in children that come and go (``--max-tasks-per-child``, a child killed at its
time limit), so no child can serve its own port. prometheus_client's multiprocess mode has
each process write its values to files in one folder and sums them when scraped: a child's
counts outlive it, as a counter's must. The mode is chosen by ``PROMETHEUS_MULTIPROC_DIR``
being set before ``prometheus_client`` is first imported, so ``prepare`` runs first thing in
``zhiku worker``, before anything that defines a series is imported.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from core.settings_observability import ObservabilitySettings

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare() -> str | None:
    """Switch this process and its children to multiprocess mode: a fresh folder of our own
    (removed at exit), unless the operator named one (theirs to empty before a start). Returns
    the folder; None when ``prometheus_client`` was imported already (then too late)."""
    if "prometheus_client" in sys.modules and not os.environ.get(MULTIPROC_ENV):
        log.warning("prometheus_client was imported before the worker set up its metrics")
        return None
    folder = os.environ.get(MULTIPROC_ENV)
    if not folder:
        folder = tempfile.mkdtemp(prefix="zhiku-metrics-")
        os.environ[MULTIPROC_ENV] = folder
        owner = os.getpid()
        # Only the main process removes it: a prefork child exiting must not.
        atexit.register(lambda: os.getpid() == owner and shutil.rmtree(folder, True))
    return folder


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # a scrape every few seconds is not news


def wsgi_app(settings: ObservabilitySettings) -> Callable[..., Iterable[bytes]]:
    from prometheus_client import REGISTRY, CollectorRegistry
    from prometheus_client.multiprocess import MultiProcessCollector

    from core import metrics

    registry = REGISTRY
    if metrics.multiprocess():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found: try /metrics\n"]
        proxied = any(
            environ.get(key) for key in ("HTTP_X_FORWARDED_FOR", "HTTP_FORWARDED", "HTTP_X_REAL_IP")
        )
        refusal = metrics.scrape_refusal(
            settings.metrics_token,
            environ.get("HTTP_AUTHORIZATION"),
            environ.get("REMOTE_ADDR"),
            proxied,
        )
        if refusal is not None:
            status = "401 Unauthorized" if settings.metrics_token else "403 Forbidden"
            start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
            return [refusal.encode() + b"\n"]
        start_response("200 OK", [("Content-Type", metrics.CONTENT_TYPE)])
        return [metrics.render(registry)]

    return app


def serve(settings: ObservabilitySettings) -> int | None:
    """Serve ``/metrics`` on a daemon thread of this (the worker's main) process; returns the
    port bound, None when not configured."""
    if not settings.worker_metrics_port:
        return None
    server = make_server(
        settings.worker_metrics_host,
        settings.worker_metrics_port,
        wsgi_app(settings),
        server_class=_Server,
        handler_class=_QuietHandler,
    )
    threading.Thread(target=server.serve_forever, name="zhiku-metrics", daemon=True).start()
    log.info(
        "worker metrics on http://%s:%d/metrics",
        settings.worker_metrics_host,
        server.server_port,
    )
    return int(server.server_port)
