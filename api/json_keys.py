"""JSON bodies that name a field once per object, for every route.

Python's parser (FastAPI's) keeps the last of two values sent under one name and drops the
first without a word: ``{"everyone": true, "everyone": false}`` was read as the second,
while a proxy, a log or a reviewer that reads the first saw another request. Here, before
any route reads it, a JSON body is parsed once with every object's names checked: one named
twice is refused (400, naming it, in the caller's language), as a form field sent twice is
(``api.multipart_form``); JSON a route reads itself (an upload's ``access``) uses
:func:`loads_unique`. A body that does not parse goes on unchanged, for the route's
parser to refuse with its own reason. The body is already capped by ``RequestGuard``, which
runs before this.
"""

from __future__ import annotations

import json
from typing import Any

from python_multipart.multipart import parse_options_header
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from api.reasons import language_of, localize
from api.urlencoded_form import read_body, replay

_MAX_NAME_CHARS = 64


class RepeatedName(ValueError):
    def __init__(self, name: str) -> None:
        shown = name if len(name) <= _MAX_NAME_CHARS else name[:_MAX_NAME_CHARS] + "…"
        super().__init__(
            f"the JSON names {shown!r} more than once in one object: send each field once"
        )


def _unique_names(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    names: dict[str, Any] = {}
    for name, value in pairs:
        if name in names:
            raise RepeatedName(name)
        names[name] = value
    return names


def loads_unique(raw: str | bytes) -> Any:
    """``json.loads``, raising :class:`RepeatedName` for a name sent twice in one object:
    for JSON a route reads itself (an upload's ``access`` field)."""
    return json.loads(raw, object_pairs_hook=_unique_names)


def repeated_name(body: bytes) -> RepeatedName | None:
    """The first name sent twice in one object of ``body``; None when there is none, or when
    ``body`` is not JSON at all (its route's parser says why)."""
    try:
        loads_unique(body)
    except RepeatedName as exc:
        return exc
    except (ValueError, RecursionError):
        return None
    return None


def is_json(content_type: bytes) -> bool:
    kind, _ = parse_options_header(content_type)
    major, _, subtype = kind.decode("latin-1").lower().partition("/")
    return major == "application" and (subtype == "json" or subtype.endswith("+json"))


class UniqueJsonNames:
    """ASGI middleware: see the module's docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = dict(scope.get("headers") or []) if scope["type"] == "http" else {}
        if not is_json(headers.get(b"content-type", b"")):
            await self.app(scope, receive, send)
            return
        body, last = await read_body(receive)
        repeated = repeated_name(body) if last["type"] == "http.request" else None
        if repeated is not None:
            detail = localize(str(repeated), language_of(HTTPConnection(scope))) or str(repeated)
            await JSONResponse({"detail": detail}, status_code=400)(scope, receive, send)
            return
        await self.app(scope, replay(body, last, receive), send)
