"""Errors to HTTP statuses, in one place. Nothing a client sends may end in a 500.

Unexpected errors never leak their text; a 503 names what is unavailable in general terms
(the backend's message and exception go to the log); a validation error names the fields
and never echoes the input back (it may be megabytes, or not encodable at all).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from core.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    TooManyRequests,
    Unauthenticated,
    UnprocessableDocument,
    UpstreamUnavailable,
    ZhikuError,
)

log = logging.getLogger(__name__)

STATUS: dict[type[ZhikuError], int] = {
    Unauthenticated: 401,
    PermissionDenied: 403,
    NotFound: 404,
    Conflict: 409,
    InvalidInput: 400,
    UnprocessableDocument: 422,
    UpstreamUnavailable: 503,
    TooManyRequests: 429,
}

# What a 503 may say, picked from the backend's message; the message itself is logged only.
_UNAVAILABLE = (
    (("answer model", "llm", "completion"), "the answer model is unavailable, try again later"),
    (("qdrant", "vector store", "index"), "the search index is unavailable, try again later"),
    (("embedding", "reranker"), "the search models are unavailable, try again later"),
    (("broker", "redis", "queue"), "the ingestion queue is unavailable, try again later"),
    (("database", "postgres"), "the database is unavailable, try again later"),
)
_UNAVAILABLE_DEFAULT = "a service this request needs is unavailable, try again later"
_MAX_VALIDATION_ERRORS = 20
_MAX_MESSAGE_CHARS = 300
_MAX_LOC_CHARS = 64


class ErrorBody(BaseModel):
    """Every error answer: what went wrong, in words."""

    detail: str


class InvalidBody(BaseModel):
    """400 or 422: a reason in words, or (request validation) which fields are wrong and why,
    in FastAPI's shape without the input."""

    detail: str | list[dict[str, Any]]


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for a route's error statuses, each with its body's schema."""
    return {
        status: {"model": InvalidBody if status in (400, 422) else ErrorBody} for status in statuses
    }


# Every route behind a key: RequestGuard (401, 413, 503) or the body's parser (400) may
# answer these before the route runs.
GUARDED = error_responses(400, 401, 413, 503)


def status_for(exc: ZhikuError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def public_detail(exc: ZhikuError) -> str:
    """What the caller may read about ``exc``: its text, except for an unavailable backend."""
    if not isinstance(exc, UpstreamUnavailable):
        return str(exc)
    text = str(exc).lower()
    for words, detail in _UNAVAILABLE:
        if any(word in text for word in words):
            return detail
    return _UNAVAILABLE_DEFAULT


class SafeJSONResponse(JSONResponse):
    """JSON that always encodes: a lone surrogate from a client's input becomes U+FFFD."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8", "replace")


def _trim(value: object, limit: int) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    # ``input`` and ``ctx`` can carry what the client sent; loc and msg are bounded.
    return [
        {
            "type": str(error.get("type", "value_error")),
            "loc": [
                part if isinstance(part, int) else _trim(part, _MAX_LOC_CHARS)
                for part in error.get("loc", ())
            ],
            "msg": _trim(error.get("msg", ""), _MAX_MESSAGE_CHARS),
        }
        for error in exc.errors()[:_MAX_VALIDATION_ERRORS]
    ]


def install(app: FastAPI) -> None:
    @app.exception_handler(ZhikuError)
    async def _domain(request: Request, exc: ZhikuError) -> JSONResponse:
        status = status_for(exc)
        if status >= 500:
            log.warning("%s on %s %s: %r", status, request.method, request.url.path, exc)
        headers: dict[str, str] | None = None
        if status == 401:
            headers = {"WWW-Authenticate": "Bearer"}
        elif isinstance(exc, TooManyRequests):
            headers = {"Retry-After": str(round(exc.retry_after_s))}
        return SafeJSONResponse({"detail": public_detail(exc)}, status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return SafeJSONResponse({"detail": _validation_errors(exc)}, status_code=422)

    # Raised by parsing what a client sent (a nesting too deep, bytes that are not the
    # encoding they claim): the request is bad, not the server. Logged, as it may be a bug.
    @app.exception_handler(RecursionError)
    @app.exception_handler(UnicodeError)
    @app.exception_handler(ValueError)
    async def _unparseable(request: Request, exc: Exception) -> JSONResponse:
        log.warning(
            "refused as unparseable on %s %s", request.method, request.url.path, exc_info=exc
        )
        return SafeJSONResponse({"detail": "the request could not be parsed"}, status_code=400)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"detail": "internal error"}, status_code=500)
