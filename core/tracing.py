"""OpenTelemetry traces, optional and off by default (``ZHIKU_OBSERVABILITY__TRACES``).

The layers call ``span(name, **attributes)`` around the work worth seeing (a route, a
retrieval stage, a Qdrant call, an LLM call, a Celery task); ``inject``/``extract`` carry the
trace in a message's headers (W3C ``traceparent``). Without the ``otel`` extra installed, or
with no tracer provider configured, every call is the API's no-op: nothing is recorded and
the cost is a function call.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.settings_observability import ObservabilitySettings

try:
    from opentelemetry import context as otel_context
    from opentelemetry import propagate, trace
except ImportError:  # the ``otel`` extra is not installed: tracing is off
    trace = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

TRACER_NAME = "zhiku"
# Span kinds by name, so callers need not import OpenTelemetry.
SERVER, CLIENT, PRODUCER, CONSUMER, INTERNAL = "server", "client", "producer", "consumer", ""


def available() -> bool:
    return trace is not None


_provider_set = False


def active() -> bool:
    """A tracer provider is set (ours, or one an embedding application or test set): without
    one every span is a no-op, skipped here altogether (it still costs context switching).
    Once set, a provider cannot be unset: remembered."""
    global _provider_set
    if _provider_set or trace is None:
        return _provider_set
    provider = trace.get_tracer_provider()
    _provider_set = not isinstance(provider, trace.ProxyTracerProvider | trace.NoOpTracerProvider)
    return _provider_set


_active = active


def _kind(kind: str) -> Any:
    assert trace is not None
    return {
        SERVER: trace.SpanKind.SERVER,
        CLIENT: trace.SpanKind.CLIENT,
        PRODUCER: trace.SpanKind.PRODUCER,
        CONSUMER: trace.SpanKind.CONSUMER,
    }.get(kind, trace.SpanKind.INTERNAL)


@contextmanager
def span(
    name: str, kind: str = INTERNAL, parent: object | None = None, **attributes: object
) -> Iterator[Any]:
    """A span around the block (the current one inside it); ``parent``: a context from
    ``extract``. Yields the span (``set_attribute`` on it) or None when tracing is off."""
    if not _active():
        yield None
        return
    tracer = trace.get_tracer(TRACER_NAME)
    clean = {k: v for k, v in attributes.items() if isinstance(v, str | bool | int | float)}
    with tracer.start_as_current_span(
        name,
        context=parent,
        kind=_kind(kind),
        attributes=clean,  # type: ignore[arg-type]
    ) as current:
        yield current


def recording_span() -> Any:
    """The current span when one is being recorded (e.g. the server span FastAPI's own
    telemetry opens around the whole app), else None."""
    if not _active():
        return None
    current = trace.get_current_span()
    return current if current.is_recording() else None


def set_attributes(current: Any, **attributes: object) -> None:
    if current is not None:
        for key, value in attributes.items():
            if isinstance(value, str | bool | int | float):
                current.set_attribute(key, value)


def record_error(current: Any, exc: BaseException) -> None:
    if current is not None and trace is not None:
        current.record_exception(exc)
        current.set_status(trace.Status(trace.StatusCode.ERROR, type(exc).__name__))


def inject(headers: MutableMapping[str, Any]) -> None:
    """Write the current trace into ``headers`` (a message's, an outgoing request's)."""
    if _active():
        propagate.inject(headers)


def extract(headers: Mapping[str, Any]) -> object | None:
    """The trace context ``headers`` carry (None when tracing is off)."""
    if not _active():
        return None
    return propagate.extract(dict(headers))


def attached(parent: object | None) -> Any:
    """Make ``parent`` the current context inside the block (a Celery task's body)."""
    if trace is None or parent is None:
        return nullcontext()
    return _attached(parent)


@contextmanager
def _attached(parent: object) -> Iterator[None]:
    token = otel_context.attach(parent)  # type: ignore[arg-type]
    try:
        yield
    finally:
        otel_context.detach(token)


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) in hex of the span being recorded, for log lines; None: none."""
    if not _active():
        return None
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def configure(settings: ObservabilitySettings, role: str) -> bool:
    """Install a tracer provider for this process when traces are on; True if one was.
    Called once per process (a Celery prefork child: after the fork, as the exporter's
    thread does not survive one)."""
    if settings.traces == "off":
        return False
    if trace is None:
        log.warning("traces are on but the 'otel' extra is not installed: pip install zhiku[otel]")
        return False
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )

    resource = Resource.create({"service.name": f"{settings.service_name}-{role}"})
    provider = TracerProvider(resource=resource)
    if settings.traces == "console":
        # One span a line, written as it ends: a log collector (or a test) reads it whole.
        # The process's real standard output: a Celery worker redirects ``sys.stdout`` into
        # its logger, which would wrap each span in a log line.
        exporter = ConsoleSpanExporter(
            out=sys.__stdout__, formatter=lambda s: s.to_json(indent=None) + "\n"
        )
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = settings.otlp_endpoint or None
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    return True


def start_span(name: str, kind: str = CLIENT, **attributes: object) -> Any:
    """A span under the current one that is *not* made current: for work that spans the
    yields of an async generator (an LLM stream), where attaching a context in one step and
    detaching it in another is not allowed. End it with ``end_span``; None when off."""
    if not _active():
        return None
    clean = {k: v for k, v in attributes.items() if isinstance(v, str | bool | int | float)}
    return trace.get_tracer(TRACER_NAME).start_span(name, kind=_kind(kind), attributes=clean)


def end_span(current: Any, error: BaseException | None = None) -> None:
    if current is None or not current.is_recording():  # off, or ended already
        return
    if error is not None:
        record_error(current, error)
    current.end()
