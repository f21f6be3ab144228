"""Errors in OpenAI's shape on the OpenAI-compatible paths, and only there.

OpenAI clients read ``{"error": {"message", "type", "param", "code"}}``; the rest of the API
answers ``{"detail": …}`` (``api.errors``). Some refusals happen before any route runs (the
key and the body size, in ``api.limits.RequestGuard``) and others after (the app's handlers,
request validation), so :class:`OpenAIErrorShape` rewrites error answers as they leave, for the
paths in ``OPENAI_PATHS`` alone: the messages, statuses and headers (``Retry-After``,
``WWW-Authenticate``) stay what the app decided, a request validation error (422) becomes
OpenAI's 400, and an answer already in OpenAI's shape (the route's own) passes unchanged.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel
from starlette.types import ASGIApp, Message, Receive, Scope, Send

OPENAI_PATHS = ("/v1/chat/completions", "/v1/models")
_MAX_PARAM_CHARS = 128
_MAX_MESSAGE_CHARS = 1000

# Status -> (type, code), as OpenAI names them.
_KINDS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("permission_error", "permission_denied"),
    404: ("invalid_request_error", "not_found"),
    409: ("invalid_request_error", "conflict"),
    413: ("invalid_request_error", "request_too_large"),
    415: ("invalid_request_error", "unsupported_media_type"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    503: ("service_unavailable", "service_unavailable"),
}


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None
    code: str | None


class OpenAIErrorBody(BaseModel):
    """Every error answer on the OpenAI-compatible paths."""

    error: OpenAIErrorDetail


# OpenAPI ``responses`` of the OpenAI-compatible routes (a 422 is answered as a 400).
OPENAI_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": OpenAIErrorBody} for status in (400, 401, 403, 404, 413, 415, 429, 503)
}


def error_body(
    status: int, message: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    fallback = ("server_error" if status >= 500 else "invalid_request_error", None)
    kind, default_code = _KINDS.get(status, fallback)
    return {
        "error": {
            "message": message[:_MAX_MESSAGE_CHARS],
            "type": kind,
            "param": param,
            "code": code or default_code,
        }
    }


def _reshape(status: int, payload: Any) -> tuple[int, dict[str, Any]]:
    """The OpenAI form of one of our error answers (status may change: 422 → 400)."""
    detail = payload.get("detail") if isinstance(payload, dict) else None
    if isinstance(detail, list):  # request validation: which fields, and why
        first = detail[0] if detail and isinstance(detail[0], dict) else {}
        # Where the value was (body, path, query…) is no part of its name.
        loc = [str(p) for p in first.get("loc", ())][1:]
        # OpenAI names the top-level parameter; the path inside it goes in the message.
        param = loc[0][:_MAX_PARAM_CHARS] if loc else None
        where = ".".join(loc)[:_MAX_PARAM_CHARS]
        message = f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg"))
        if len(detail) > 1:
            message += f" (and {len(detail) - 1} more)"
        return 400, error_body(400, message, param=param, code="invalid_value")
    message = detail if isinstance(detail, str) else "the request failed"
    return status, error_body(status, message)


class OpenAIErrorShape:
    """ASGI middleware: error answers on ``OPENAI_PATHS`` in OpenAI's shape. Placed outside
    ``RequestGuard`` so its refusals (401, 413, 503) are reshaped too."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "").rstrip("/") if scope["type"] == "http" else ""
        if not any(path == p or path.startswith(p + "/") for p in OPENAI_PATHS):
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        body: list[bytes] = []

        async def shaped_send(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and message["status"] >= 400:
                start = message  # held until the body is complete
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            body.append(message.get("body", b""))
            if not message.get("more_body", False):
                await _send_reshaped(send, start, b"".join(body))

        await self.app(scope, receive, shaped_send)


async def _send_reshaped(send: Send, start: Message, raw: bytes) -> None:
    status = start["status"]
    headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
    try:
        payload = json.loads(raw) if raw else {}
    except ValueError:
        payload = {}
    if not (isinstance(payload, dict) and isinstance(payload.get("error"), dict)):
        status, payload = _reshape(status, payload)
        headers = [(k, v) for k, v in headers if k.lower() != b"content-type"]
        headers.append((b"content-type", b"application/json"))
    encoded = json.dumps(payload, ensure_ascii=False).encode("utf-8", "replace")
    headers.append((b"content-length", str(len(encoded)).encode()))
    await send({**start, "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": encoded, "more_body": False})
