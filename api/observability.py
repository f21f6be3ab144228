"""The outermost middleware: a request id, a latency series by route, a server span, and
``/metrics``.

Outermost, so the guard's own refusals (401, 413) are timed, traced and carry a request id
too. The route label is the matched route's template (``/v1/documents/{doc_id}``), never the
raw path; a request the guard refused before routing is matched here against the same routes,
and a path no route serves is ``unmatched``, so no client can mint series.

``/metrics`` is answered here, before the guard (a scraper has no API key): to the bearer of
``ZHIKU_OBSERVABILITY__METRICS_TOKEN``, or without one to loopback clients only
(``core.metrics.scrape_refusal``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import nullcontext
from typing import Any

import anyio.to_thread
from prometheus_client import REGISTRY, CollectorRegistry
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.reasons import language_of, localize
from core import metrics, request_context, tracing
from core.settings_observability import ObservabilitySettings

METRICS_PATH = "/metrics"
REQUEST_ID_STATE_KEY = "request_id"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_PROXY_HEADERS = (b"x-forwarded-for", b"forwarded", b"x-real-ip")

QueueDepths = Callable[[Any], Mapping[tuple[str, str], int]]


class Observability:
    def __init__(
        self,
        app: ASGIApp,
        settings: ObservabilitySettings,
        queue_depths: QueueDepths | None = None,
    ) -> None:
        """``queue_depths(runtime)``: the ingestion queues' depths, read at each scrape."""
        self.app = app
        self._settings = settings
        self._queue_depths = queue_depths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == METRICS_PATH:
            await self._scrape(scope, receive, send)
            return
        headers = scope.get("headers") or []
        request_id = request_context.clean(_header(headers, b"x-request-id"))
        request_id = request_id or request_context.new_id()
        scope.setdefault("state", {})[REQUEST_ID_STATE_KEY] = request_id
        method = scope["method"] if scope["method"] in _METHODS else "other"
        status = 500  # unless a response starts: an exception escaped every handler

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                given = message.get("headers", [])
                message["headers"] = [*given, (b"x-request-id", request_id.encode())]
                # Every response is what its Content-Type says: a browser that sniffed a JSON
                # error or a static file as HTML would run what a caller put in it.
                if not any(name.lower() == b"x-content-type-options" for name, _ in given):
                    message["headers"].append((b"x-content-type-options", b"nosniff"))
            await send(message)

        # FastAPI (0.16x) opens its own server span around the app when a tracer provider is
        # set: then that one is annotated, not doubled; older versions get ours.
        traced = tracing.active()
        outer = tracing.recording_span() if traced else None
        started = time.perf_counter()
        with (
            request_context.bound(request_id),
            self._server_span(traced, outer, method, headers) as span,
        ):
            if traced:
                tracing.set_attributes(outer or span, **{"zhiku.request_id": request_id})
            try:
                await self.app(scope, receive, send_with_id)
            finally:
                route = route_template(scope)
                metrics.HTTP_REQUEST_SECONDS.labels(method, route, str(status)).observe(
                    time.perf_counter() - started
                )
                if span is not None:
                    span.update_name(f"{method} {route}")
                    tracing.set_attributes(
                        span, **{"http.route": route, "http.response.status_code": status}
                    )

    @staticmethod
    def _server_span(
        traced: bool, outer: Any, method: str, headers: list[tuple[bytes, bytes]]
    ) -> Any:
        if not traced or outer is not None:
            return nullcontext(None)
        carried = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers}
        return tracing.span(
            method, tracing.SERVER, tracing.extract(carried), **{"http.request.method": method}
        )

    async def _scrape(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = scope.get("headers") or []
        client = scope.get("client")
        token = self._settings.metrics_token
        refusal = metrics.scrape_refusal(
            token,
            _header(headers, b"authorization"),
            client[0] if client else None,
            proxied=any(_header(headers, name) is not None for name in _PROXY_HEADERS),
        )
        if refusal is not None:
            detail = localize(refusal, language_of(HTTPConnection(scope))) or refusal
            extra = {"WWW-Authenticate": "Bearer"} if token else {}
            await JSONResponse({"detail": detail}, 401 if token else 403, headers=extra)(
                scope, receive, send
            )
            return
        # The queue depths query the database and the broker: on a worker thread.
        body = await anyio.to_thread.run_sync(self._exposition, scope)
        await Response(body, media_type=metrics.CONTENT_TYPE)(scope, receive, send)

    def _exposition(self, scope: Scope) -> bytes:
        body = metrics.render(REGISTRY)
        runtime = getattr(scope["app"].state, "runtime", None)
        if self._queue_depths is not None and runtime is not None:
            # A registry of the scrape's own: the reader is this app's (tests run several).
            queues = CollectorRegistry(auto_describe=False)
            read = self._queue_depths
            queues.register(metrics.QueueDepthCollector(lambda: read(runtime)))
            body += metrics.render(queues)
        answer_load = getattr(runtime, "answer_load", None)
        if callable(answer_load):  # the answering backend's slots (services.answer_limits)
            answers = CollectorRegistry(auto_describe=False)
            answers.register(metrics.AnswerLoadCollector(answer_load))
            body += metrics.render(answers)
        return body


def route_template(scope: Scope) -> str:
    """The template of the route that served (or would serve) this request."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path or "/"
    app = scope.get("app")
    for candidate in _leaves(getattr(getattr(app, "router", None), "routes", ())):
        match, _ = candidate.matches(scope)
        if match is Match.FULL:
            return str(getattr(candidate, "path", metrics.UNMATCHED_ROUTE))
    return metrics.UNMATCHED_ROUTE


def _leaves(routes: Iterable[Any]) -> Iterator[Any]:
    """The routes themselves: FastAPI (0.16x) keeps an included router as one entry wrapping
    the router (``original_router``); ours are included without a prefix, so their routes
    carry their whole path."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _leaves(inner.routes)
        else:
            yield route


def request_id_of(connection: HTTPConnection) -> str | None:
    return connection.scope.get("state", {}).get(REQUEST_ID_STATE_KEY)


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str | None:
    for key, value in headers:
        if key == name:
            return value.decode("latin-1")
    return None
