"""Observability settings (``ZHIKU_OBSERVABILITY__*``): logs, metrics, traces.

Who may scrape ``/metrics`` (``core.metrics.scrape_refusal``): with ``metrics_token`` set, a
caller presenting it as ``Authorization: Bearer <token>``; without one, only a client on the
loopback interface that came through no proxy (no ``X-Forwarded-For``/``Forwarded``). The
series name routes and backends, never documents or users, but queue depths and error rates
are still an operator's business: a public deployment sets a token.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ObservabilitySettings(BaseModel):
    # ``text`` for people at a terminal (the embedded default); ``json``: one object a line,
    # with its request id, for a log collector.
    log_format: Literal["text", "json"] = "text"
    # Bearer token for /metrics on the API and the workers; empty: loopback clients only.
    metrics_token: str = Field(default="", repr=False)
    # A Celery worker's own /metrics (its prefork children aggregated, see
    # ``workers.metrics_endpoint``); 0: not served. Two workers on one host need two ports.
    worker_metrics_port: int = Field(default=0, ge=0, le=65535)
    worker_metrics_host: str = "127.0.0.1"
    # OpenTelemetry traces (the ``otel`` extra): off by default. ``otlp`` sends to
    # ``otlp_endpoint`` over HTTP (e.g. http://collector:4318/v1/traces); ``console`` writes
    # one JSON span a line to standard output (debugging, tests).
    traces: Literal["off", "otlp", "console"] = "off"
    otlp_endpoint: str = ""
    service_name: str = "zhiku"
