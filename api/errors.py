"""Errors to HTTP statuses, in one place. Nothing a client sends may end in a 500.

Unexpected errors never leak their text. A 503 is worded from the failed component and how
it failed (``UpstreamUnavailable.component`` / ``.outage``) alone, never from the exception's
message, which holds hosts, ports and the library's own words: that detail is logged here,
once, with the request. A database that cannot be reached is a 503 too, not a 500. A
validation error names the fields and never echoes the input back (it may be megabytes, or
not encodable at all).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request, params
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import validation_words
from api.reasons import in_script, language_of, localize
from api.web.i18n import CHINESES
from core import request_context
from core.db.conflicts import CONSTRAINT_ERRORS, concurrent_conflict
from core.db.outages import UNAVAILABLE_ERRORS, UNSTORABLE_ERRORS, database_outage
from core.errors import (
    Component,
    Conflict,
    InvalidInput,
    NotFound,
    Outage,
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

_OUTAGE_WORDING = {
    Outage.DOWN: "{} is unavailable right now; try again shortly.",
    Outage.STARTING: "{} is still starting; try again in a minute.",
    Outage.NOT_CONFIGURED: "{} is not set up on this server; ask an administrator.",
}
# The queue is only handed work after the request's rows and files are committed (uploads,
# new versions), and the worker's sweeper re-queues documents left queued: what was sent is
# kept, and sending it again would store it twice.
_JOB_QUEUE_DOWN = (
    "The job queue is unavailable right now, so processing has not started. The upload was"
    " saved and will be processed automatically once the queue is back (its documents show"
    " as queued); do not upload it again."
)
# Seconds a client should wait before trying again, by outage (none where retrying is moot).
_RETRY_AFTER_S = {Outage.DOWN: 30, Outage.STARTING: 15}
# A body of another media type than its route reads is never parsed, so its fields cannot be
# named: the caller is told what to send instead (415), not that "the body should be an object".
JSON_BODY_EXPECTED = "this route reads a JSON body: send it with 'Content-Type: application/json'"
FORM_BODY_EXPECTED = (
    "this route reads a form: send it as multipart/form-data, each file a part with a filename"
)
# FastAPI's own words for a text part where a file was expected name a Python class
# ("Expected UploadFile, received: <class 'str'>"): ours say what to send.
NOT_A_FILE = "must be a file: send it as a part with a filename"
UNSTORABLE = (
    "the request holds a value that cannot be stored: remove NUL and other control characters"
)
# FastAPI's one sentence for a JSON body its parser raised on; ours say what was wrong, from
# the error it raised (``_unreadable_body``).
FASTAPI_UNREADABLE = "There was an error parsing the body"
NOT_UTF8_BODY = "the body is not UTF-8 text: send JSON encoded as UTF-8"
TOO_DEEP_BODY = "the JSON body is nested too deeply"
TOO_LONG_NUMBER = "a number in the JSON body has too many digits"
INTERNAL_ERROR = "internal error"
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


# Every route behind a key: RequestGuard (401, 413, 503) or the body's parser (400; 415: a
# body of another media type than the route reads) may answer these before the route runs.
GUARDED = error_responses(400, 401, 413, 415, 503)


def status_for(exc: ZhikuError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def public_detail(exc: ZhikuError) -> str:
    """What the caller may read about ``exc``: its text, except for an unavailable backend,
    which is worded from its component and outage only."""
    if not isinstance(exc, UpstreamUnavailable):
        return str(exc)
    if exc.component is Component.JOB_QUEUE and exc.outage is Outage.DOWN:
        return _JOB_QUEUE_DOWN
    words = exc.component.words
    return _OUTAGE_WORDING[exc.outage].format(words[:1].upper() + words[1:])


def stream_failure(exc: Exception) -> tuple[int, str]:
    """The status and public words of an error raised once a streamed answer has begun (its
    status line is sent: the client reads them in its error event): a ``ZhikuError`` as its
    handler words it, a database that failed as an outage or an unstorable value, anything
    else as an internal error. Mid-stream, an error that escaped cut the connection without
    a word, and its answer's audit record with it."""
    if not isinstance(exc, ZhikuError):
        if isinstance(exc, UNSTORABLE_ERRORS):
            return 400, UNSTORABLE
        exc = database_outage(exc) or exc
    if isinstance(exc, ZhikuError):
        return status_for(exc), public_detail(exc)
    return 500, INTERNAL_ERROR


def error_headers(exc: ZhikuError) -> dict[str, str] | None:
    """``WWW-Authenticate`` on a 401, ``Retry-After`` on a 429 and on a 503 worth retrying."""
    if isinstance(exc, Unauthenticated):
        return {"WWW-Authenticate": "Bearer"}
    if isinstance(exc, TooManyRequests):
        return {"Retry-After": str(round(exc.retry_after_s))}
    if isinstance(exc, UpstreamUnavailable) and exc.component is not Component.JOB_QUEUE:
        retry_after_s = _RETRY_AFTER_S.get(exc.outage)
        if retry_after_s is not None:
            return {"Retry-After": str(retry_after_s)}
    return None


def log_unavailable(request: Request | None, exc: UpstreamUnavailable) -> None:
    """The one log line of a 503: the internal detail, with the request it failed."""
    where = f"{request.method} {request.url.path}" if request is not None else "a request"
    # The id the request runs under (api.observability): the client's X-Request-ID when
    # plausible, else one made for it; returned in the response's header too.
    request_id = request_context.current()
    log.warning(
        "503 on %s%s: %s %s: %s",
        where,
        f" (request {request_id[:100]})" if request_id else "",
        exc.component.value,
        exc.outage.value,
        exc.detail,
    )


class SafeJSONResponse(JSONResponse):
    """JSON that always encodes: a lone surrogate from a client's input becomes U+FFFD."""

    def render(self, content: Any) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8", "replace")


def _trim(value: object, limit: int) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "…"


def body_type_refusal(request: Request) -> str | None:
    """Why the route could not read this body (415): a JSON route sent anything but JSON
    (FastAPI parses JSON only under a JSON ``Content-Type``), or a form route, which takes
    files, sent anything but multipart; None when the body was the route's kind, and its
    validation errors name its fields."""
    body_field = getattr(request.scope.get("route"), "body_field", None)
    if body_field is None:
        return None
    sent = (request.headers.get("content-type") or "").partition(";")[0].strip().lower()
    if isinstance(body_field.field_info, params.File):
        return None if sent == "multipart/form-data" else FORM_BODY_EXPECTED
    if isinstance(body_field.field_info, params.Form):
        form_types = ("multipart/form-data", "application/x-www-form-urlencoded")
        return None if sent in form_types else FORM_BODY_EXPECTED
    kind, _, subtype = sent.partition("/")
    is_json = kind == "application" and (subtype == "json" or subtype.endswith("+json"))
    return None if is_json else JSON_BODY_EXPECTED


def _validation_errors(exc: RequestValidationError, language: str) -> list[dict[str, Any]]:
    # ``input`` and ``ctx`` can carry what the client sent; loc and msg are bounded. A Chinese
    # caller's ``msg`` is worded from the error's type and our own limits in ``ctx``.
    return [
        {
            "type": str(error.get("type", "value_error")),
            "loc": [
                part if isinstance(part, int) else _trim(part, _MAX_LOC_CHARS)
                for part in error.get("loc", ())
            ],
            "msg": _trim(_message(error, language), _MAX_MESSAGE_CHARS),
        }
        for error in map(_in_our_words, exc.errors()[:_MAX_VALIDATION_ERRORS])
    ]


def _in_our_words(error: dict[str, Any]) -> dict[str, Any]:
    reason = (error.get("ctx") or {}).get("error")
    if error.get("type") == "value_error" and str(reason).startswith("Expected UploadFile"):
        return {**error, "msg": NOT_A_FILE, "ctx": {"error": NOT_A_FILE}}
    return error


def _message(error: dict[str, Any], language: str) -> str:
    if language not in CHINESES:
        return str(error.get("msg", ""))
    return validation_words.chinese(
        error,
        lambda text: localize(text, language) or text,
        lambda words: in_script(words, language),
    )


def _unreadable_body(exc: StarletteHTTPException) -> str | None:
    """What was wrong with a JSON body FastAPI could not parse, from the error its parser
    raised (FastAPI says only that there was one); None for any other refusal."""
    if exc.detail != FASTAPI_UNREADABLE:
        return None
    cause = exc.__cause__
    if isinstance(cause, UnicodeError):
        return NOT_UTF8_BODY
    if isinstance(cause, RecursionError):
        return TOO_DEEP_BODY
    if isinstance(cause, ValueError) and "digits" in str(cause):  # int's 4,300-digit limit
        return TOO_LONG_NUMBER
    return None


def install(app: FastAPI) -> None:
    @app.exception_handler(ZhikuError)
    async def _domain(request: Request, exc: ZhikuError) -> JSONResponse:
        status = status_for(exc)
        if isinstance(exc, UpstreamUnavailable):
            log_unavailable(request, exc)
        elif status >= 500:
            log.warning("%s on %s %s: %r", status, request.method, request.url.path, exc)
        headers = error_headers(exc)
        detail = localize(public_detail(exc), language_of(request))
        return SafeJSONResponse({"detail": detail}, status, headers=headers)

    # PostgreSQL down or out of connections: the database is unavailable, not the code broken.
    for error_type in UNAVAILABLE_ERRORS:

        @app.exception_handler(error_type)
        async def _database(request: Request, exc: Exception) -> JSONResponse:
            outage = database_outage(exc) or UpstreamUnavailable(
                repr(exc), component=Component.DATABASE
            )
            return await _domain(request, outage)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        about_body = any(tuple(e.get("loc", ()))[:1] == ("body",) for e in exc.errors())
        unreadable = body_type_refusal(request) if about_body else None
        if unreadable is not None:
            detail = localize(unreadable, language_of(request))
            return SafeJSONResponse({"detail": detail}, status_code=415)
        detail = _validation_errors(exc, language_of(request))
        return SafeJSONResponse({"detail": detail}, status_code=422)

    # Routing's own refusals (404 "Not Found", 405) and a route's HTTPException: the same
    # body as FastAPI's, the detail in the caller's language.
    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code in (204, 304) or not isinstance(exc.detail, str):
            return await http_exception_handler(request, exc)
        detail = localize(_unreadable_body(exc) or exc.detail, language_of(request))
        return SafeJSONResponse({"detail": detail}, exc.status_code, headers=exc.headers)

    # Raised by parsing what a client sent (a nesting too deep, bytes that are not the
    # encoding they claim): the request is bad, not the server. Logged, as it may be a bug.
    @app.exception_handler(RecursionError)
    @app.exception_handler(UnicodeError)
    @app.exception_handler(ValueError)
    async def _unparseable(request: Request, exc: Exception) -> JSONResponse:
        log.warning(
            "refused as unparseable on %s %s", request.method, request.url.path, exc_info=exc
        )
        detail = localize("the request could not be parsed", language_of(request))
        return SafeJSONResponse({"detail": detail}, status_code=400)

    # A value the database refused (PostgreSQL: a NUL byte in text; a number past its column):
    # a field that slipped its bounds. The client's request, not an outage: 400, logged.
    for error_type in UNSTORABLE_ERRORS:

        @app.exception_handler(error_type)
        async def _unstorable(request: Request, exc: Exception) -> JSONResponse:
            log.warning(
                "refused as unstorable on %s %s", request.method, request.url.path, exc_info=exc
            )
            detail = localize(UNSTORABLE, language_of(request))
            return SafeJSONResponse({"detail": detail}, status_code=400)

    # A check-then-write that lost a race with another request (core.db.conflicts): 409.
    for error_type in CONSTRAINT_ERRORS:

        @app.exception_handler(error_type)
        async def _constraint(request: Request, exc: Exception) -> JSONResponse:
            conflict = concurrent_conflict(exc)
            if conflict is None:
                return await _unexpected(request, exc)
            log.warning("409 on %s %s: %r", request.method, request.url.path, exc.args[:1])
            return await _domain(request, conflict)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        detail = localize(INTERNAL_ERROR, language_of(request))
        return JSONResponse({"detail": detail}, status_code=500)
