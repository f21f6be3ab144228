"""Which browser origins may use a key, and CORS for the routes scoped keys call.

The design, and why it is safe, is in ``docs/widget.md``. In short:

- A key with ``allowed_origins`` is refused (403) on a request whose ``Origin`` is another
  one. Browsers set ``Origin`` and page scripts cannot change it; a request without one comes
  from no browser page and is not an origin's to check (curl holds the key anyway).
- Zhiku's own widget frame (``/widget/frame``) runs on this server's origin, so its requests
  carry our own ``Origin``. The frame reports the page that embeds it, as the browser told it
  in ``postMessage``'s ``event.origin``, in ``X-Zhiku-Embedder-Origin``; that header is believed
  only on requests from our own origin (no other page can send it: it is not among the headers
  a preflight allows), and is then checked against the key's origins instead.
- Preflights (``OPTIONS``, no key) of the routes a scoped key may call are answered for any
  origin, allowing only ``Authorization`` and ``Content-Type`` and never credentials. The
  actual request then carries ``Access-Control-Allow-Origin`` when its key lists that origin,
  and on the guard's refusals (401, 403), so that a page can show why; never
  ``Access-Control-Allow-Credentials``: cookies are not for other sites.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import Message, Receive, Scope, Send

from api import cookies, scopes
from api.reasons import language_of, localize
from core.access import Principal
from core.origins import origin_or_none

EMBEDDER_HEADER = "X-Zhiku-Embedder-Origin"
# Stands for an Origin that is present but no origin (``null``: a sandboxed frame, a file).
NULL_ORIGIN = "null"
# Set in the request's state when the guard refused a key's request (origin or scope).
REFUSED_STATE_KEY = "key_refused"
PREFLIGHT_MAX_AGE_S = 600
_ALLOWED_HEADERS = "Authorization, Content-Type"
_EXPOSED_HEADERS = "Retry-After"
_REFUSAL_STATUSES = frozenset({401, 403})
_NOT_CROSS_ORIGIN = "cross-origin requests are not accepted on this route"


def own_origins(scope: Scope) -> frozenset[str]:
    """This server's origin, as the request reached it, and the portal's configured ones."""
    found = {origin_or_none(cookies.own_origin(scope))}
    for origin in cookies.sign_in_service(scope).web.allowed_origins:
        found.add(origin_or_none(origin))
    return frozenset(o for o in found if o is not None)


def _origin_header(scope: Scope) -> str | None:
    """The ``Origin`` header normalised; ``NULL_ORIGIN`` when present but not an origin."""
    raw = cookies.header(scope, b"origin")
    if raw is None:
        return None
    return origin_or_none(raw) or NULL_ORIGIN


def request_origin(scope: Scope) -> str | None:
    """The page a browser request comes from, for a key's allowed origins: its ``Origin``;
    for a request from our own origin (the widget frame), the page that embeds it. None:
    no browser page (no ``Origin``, no embedder)."""
    origin = _origin_header(scope)
    embedder = cookies.header(scope, EMBEDDER_HEADER.lower().encode())
    if embedder is not None and (origin is None or origin in own_origins(scope)):
        return origin_or_none(embedder) or NULL_ORIGIN
    return origin


def origin_refusal(principal: Principal, scope: Scope) -> str | None:
    """Why this key may not be used from this request's origin (403), or None."""
    if not principal.key_origins:
        return None
    origin = request_origin(scope)
    if origin is None or origin in principal.key_origins:
        return None
    return f"this API key may not be used from {origin[:100]}: its owner bound it to other origins"


def cross_origin(scope: Scope) -> str | None:
    """The origin of a request from another site's page, or None (same origin, no browser)."""
    origin = _origin_header(scope)
    if origin is None or origin == NULL_ORIGIN or origin in own_origins(scope):
        return None
    return origin


def is_preflight(scope: Scope) -> bool:
    return (
        scope["method"] == "OPTIONS"
        and cookies.header(scope, b"origin") is not None
        and cookies.header(scope, b"access-control-request-method") is not None
    )


async def answer_preflight(
    scope: Scope, receive: Receive, send: Send, routes: list[BaseRoute]
) -> None:
    """Allow a scoped key's route to be called from any page; the key decides, later."""
    origin = _origin_header(scope)
    method = (cookies.header(scope, b"access-control-request-method") or "").strip().upper()
    asked = {**scope, "method": method}
    response: Response
    if origin is None or origin == NULL_ORIGIN or not scopes.allowed_scopes(routes, asked):
        response = _refusal(scope, _NOT_CROSS_ORIGIN)
    else:
        response = Response(
            status_code=204,
            headers={
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": method,
                "Access-Control-Allow-Headers": _ALLOWED_HEADERS,
                "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_S),
                "Vary": "Origin",
            },
        )
    await response(scope, receive, send)


def _refusal(scope: Scope, detail: str) -> Response:
    """A refused preflight: the guard's shape (``{"detail": …}``) in the caller's language.
    A browser shows a script no preflight's body, but a developer's tools and curl do."""
    detail = localize(detail, language_of(HTTPConnection(scope))) or detail
    return JSONResponse({"detail": detail}, status_code=403, headers={"Vary": "Origin"})


def cors_send(scope: Scope, send: Send, routes: list[BaseRoute], principal_key: str) -> Send:
    """``send``, adding ``Access-Control-Allow-Origin`` to a cross-origin request's answer
    on a scoped key's route when its key lists the origin, or when the guard refused it."""
    origin = cross_origin(scope)
    if origin is None or not scopes.allowed_scopes(routes, scope):
        return send

    async def cors(message: Message) -> None:
        if message["type"] == "http.response.start" and _readable(
            scope, message["status"], origin, principal_key
        ):
            headers = list(message.get("headers") or [])
            headers += _encoded(
                (
                    ("access-control-allow-origin", origin),
                    ("access-control-expose-headers", _EXPOSED_HEADERS),
                    ("vary", "Origin"),
                )
            )
            message = {**message, "headers": headers}
        await send(message)

    return cors


def _readable(scope: Scope, status: int, origin: str, principal_key: str) -> bool:
    state = scope.get("state") or {}
    principal = state.get(principal_key)
    if isinstance(principal, Principal) and principal.key_id is not None:
        if origin in principal.key_origins:
            return True
        return status in _REFUSAL_STATUSES and bool(state.get(REFUSED_STATE_KEY))
    # No caller: the guard refused the key itself (missing, wrong, revoked).
    return principal is None and status in _REFUSAL_STATUSES


def _encoded(pairs: Iterable[tuple[str, str]]) -> list[tuple[bytes, bytes]]:
    return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in pairs]
