"""Limits before work: authenticate from the headers, then cap the body as it streams in.

FastAPI reads and parses a request body before a route's dependencies run, so a key checked
by a dependency comes too late to stop an anonymous client from making the server buffer a
body (JSON in memory, multipart files on disk). ``RequestGuard`` runs first:

1. every route but the public probes and docs authenticates its API key from the headers,
   before a byte of the body is read (401 without reading it); the ``Principal`` is handed
   to the route in ``scope["state"]`` (``api.deps.get_principal`` reuses it);
2. the body is counted as it arrives, with or without a Content-Length, against the cap of
   its route: small for JSON routes, files × bytes for uploads (413 past it);
3. an upload's multipart stream is followed as it arrives (``api.multipart_watch``): too many
   files or fields is refused at once, and a file past the per-file limit is cut to one byte
   over the limit, so the route refuses that file alone (413 in its ``errors``) without
   spooling the rest.

A key may be narrowed by its owner (``api.scopes``: only the chat, or only uploads) and bound
to browser origins (``api.origins``, the widget): both are checked here too, before the body,
and a preflight of a route such a key may call is answered here (no key comes with it).

A browser's session cookie (``api.cookies``) is checked at the same point: on ``/v1/*``
when no key is sent, on the pages always. A cookie request that changes something must come
from our own origin and, on ``/v1/*``, carry the session's ``X-CSRF-Token`` (403; a key needs
neither). Sign-in (``/login``, ``/v1/auth/login``) has no caller yet: a small body cap.
"""

from __future__ import annotations

import logging
import math
import re
import time
from dataclasses import dataclass
from typing import Literal

import anyio
import anyio.to_thread
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api import cookies, origins, scopes
from api.errors import error_headers, public_detail, status_for
from api.multipart_watch import multipart_watch
from api.rate_limits import over_rate
from api.reasons import language_of, localize
from core.access import Principal
from core.db.outages import database_outage
from core.errors import Unauthenticated, ZhikuError
from core.settings import LimitsSettings
from services.sign_in import SessionCaller

log = logging.getLogger(__name__)

# Where ``RequestGuard`` leaves the authenticated caller for ``api.deps.get_principal``.
PRINCIPAL_STATE_KEY = "principal"

_PUBLIC_PREFIXES = ("/health/", "/docs", "/openapi.json", "/static/", "/widget")
# Sign-in: no caller yet, so a small body (a name and a password), checked for its origin.
SIGN_IN_PATHS = frozenset({"/login", "/v1/auth/login"})
SIGN_IN_BODY_BYTES = 8 * 1024
_SESSION_REFUSED = "invalid or expired session: sign in again"
_CROSS_SITE = "cross-site request refused: its Origin is not this server"
_BAD_CSRF = "missing or wrong CSRF token: send the session's token in X-CSRF-Token"
_VERSION_UPLOAD = re.compile(r"/v1/documents/[^/]+/versions/?")
# A plausible key: printable ASCII of a sane length. Anything else is refused unread, so no
# NUL byte or megabyte header ever reaches the database.
_KEY_SHAPE = re.compile(r"[\x21-\x7e]{1,256}")
_INVALID_KEY = "invalid or revoked API key"
_MISSING_KEY = "missing API key: send 'Authorization: Bearer <key>'"
# No route reads a compressed body: one sent gzipped was parsed as it came ("There was an
# error parsing the body"), and one that only claimed to be was read as if it were not.
_ENCODED_BODY = "request bodies are read as sent: send it uncompressed, without Content-Encoding"


def key_refusal(principal: Principal, scope: Scope) -> str | None:
    """Why this key may not make this request (403): another origin than the ones it is
    bound to, or a route outside its scope (``api.scopes``); None: it may."""
    refusal = origins.origin_refusal(principal, scope)
    if refusal is not None or principal.key_scope == scopes.FULL:
        return refusal
    if principal.key_scope in scopes.allowed_scopes(scope["app"].router.routes, scope):
        return None
    return scopes.refusal(principal.key_scope, scope["method"], scope["path"])


def upload_body_bytes(limits: LimitsSettings, files: int) -> int:
    """The body of an upload of ``files`` files: every file at its limit (one byte over, to be
    refused) and every form field at its own, with their part headers and boundaries."""
    per_part_overhead = limits.max_part_header_bytes + 256
    return files * (limits.max_upload_bytes + 1 + per_part_overhead) + limits.max_form_fields * (
        limits.max_form_field_bytes + per_part_overhead
    )


@dataclass(frozen=True)
class _BodyPlan:
    cap: int
    files: int | None  # an upload of at most this many files; None: not an upload


def is_public(path: str) -> bool:
    return path.startswith(_PUBLIC_PREFIXES)


def api_key_from(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The key as ``api.deps`` reads it: ``Authorization: Bearer …``, else ``X-API-Key``."""
    bearer: bytes | None = None
    header_key: bytes | None = None
    for name, value in headers:
        if name == b"authorization":
            scheme, _, credentials = value.strip().partition(b" ")
            if scheme.lower() == b"bearer" and credentials.strip():
                bearer = credentials.strip()
        elif name == b"x-api-key":
            header_key = value.strip()
    raw = bearer or header_key
    return raw.decode("latin-1") if raw else None


class RequestGuard:
    def __init__(self, app: ASGIApp, limits: LimitsSettings) -> None:
        self.app = app
        self._limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        routes = scope["app"].router.routes
        if origins.is_preflight(scope):
            await origins.answer_preflight(scope, receive, send, routes)
            return
        send = origins.cors_send(scope, send, routes, PRINCIPAL_STATE_KEY)
        if path in SIGN_IN_PATHS and scope["method"] not in cookies.SAFE_METHODS:
            if not cookies.origin_ok(scope, required=False):
                await _answer(scope, receive, send, 403, _CROSS_SITE)
                return
        elif not is_public(path) and not (
            await self._admit(scope, receive, send) and await _within_rate(scope, receive, send)
        ):
            return
        await self._limit_body(scope, receive, send)

    async def _admit(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """Authenticate by key, else by session cookie; False once a refusal has been sent
        (the body left unread). A page (not ``/v1/``) may be read without a session: it
        sends the visitor to sign in."""
        api = scope["path"].startswith("/v1/")
        token = cookies.session_token(scope)
        if api_key_from(scope.get("headers") or []) is not None or (api and token is None):
            principal = await self._authenticate(scope, receive, send)
            if principal is None:
                return False
            state = scope.setdefault("state", {})
            state[PRINCIPAL_STATE_KEY] = principal
            refusal = key_refusal(principal, scope)
            if refusal is not None:
                state[origins.REFUSED_STATE_KEY] = True
                await _answer(scope, receive, send, 403, refusal)
                return False
            return True
        safe = scope["method"] in cookies.SAFE_METHODS
        caller = await self._session(scope, receive, send, token, page=not api)
        if caller is False:
            return False
        if caller is None or token is None:  # a page without a (good) session
            if safe:
                return True
            await _redirect(scope, receive, send, "/login")
            return False
        if not safe and not cookies.origin_ok(scope):
            await _answer(scope, receive, send, 403, _CROSS_SITE)
            return False
        presented = cookies.header(scope, cookies.CSRF_HEADER.lower().encode())
        if not safe and api and not cookies.sign_in_service(scope).csrf_matches(token, presented):
            await _answer(scope, receive, send, 403, _BAD_CSRF)
            return False
        state = scope.setdefault("state", {})
        state[PRINCIPAL_STATE_KEY] = caller.principal
        state[cookies.WEB_AUTH_STATE_KEY] = cookies.WebAuth(token, caller)
        return True

    async def _session(
        self, scope: Scope, receive: Receive, send: Send, token: str | None, *, page: bool
    ) -> SessionCaller | Literal[False] | None:
        """The caller; None: a page without a good session; False: a refusal was sent."""
        try:
            if token is None:
                raise Unauthenticated(_SESSION_REFUSED)
            return await anyio.to_thread.run_sync(
                cookies.sign_in_service(scope).authenticate, token
            )
        except Unauthenticated as exc:
            if page:
                return None
            await _answer(scope, receive, send, 401, str(exc))
        except Exception as exc:
            await _unavailable(scope, receive, send, exc, "session authentication")
        return False

    async def _authenticate(self, scope: Scope, receive: Receive, send: Send) -> Principal | None:
        """The caller, or None once a refusal has been sent (the body left unread)."""
        key = api_key_from(scope.get("headers") or [])
        try:
            if key is None:
                raise Unauthenticated(_MISSING_KEY)
            if not _KEY_SHAPE.fullmatch(key):
                raise Unauthenticated(_INVALID_KEY)
            identity = scope["app"].state.runtime.services.identity
            # A database call: on a worker thread, never on the event loop.
            return await anyio.to_thread.run_sync(identity.authenticate, key)
        except Unauthenticated as exc:
            await _answer(scope, receive, send, 401, str(exc), {"WWW-Authenticate": "Bearer"})
        except Exception as exc:
            await _unavailable(scope, receive, send, exc, "authentication")
        return None

    def _plan(self, scope: Scope) -> _BodyPlan:
        method, path = scope["method"], scope["path"].rstrip("/")
        limits = self._limits
        if scope["path"] in SIGN_IN_PATHS:
            return _BodyPlan(SIGN_IN_BODY_BYTES, None)
        if method == "POST" and path == "/v1/documents":
            files = limits.max_files_per_upload
            return _BodyPlan(upload_body_bytes(limits, files), files)
        if method == "POST" and _VERSION_UPLOAD.fullmatch(scope["path"]):
            return _BodyPlan(upload_body_bytes(limits, 1), 1)
        if method == "POST" and path.startswith("/v1/chat"):
            return _BodyPlan(limits.max_chat_body_bytes, None)
        return _BodyPlan(limits.max_json_body_bytes, None)

    async def _limit_body(self, scope: Scope, receive: Receive, send: Send) -> None:
        plan = self._plan(scope)
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if _encoded_body(scope.get("headers") or [], declared):
            await _answer(scope, receive, send, 415, _ENCODED_BODY, {"Accept-Encoding": "identity"})
            return
        if declared is not None and (not declared.isdigit() or int(declared) > plan.cap):
            await _answer(scope, receive, send, 413, _too_large(plan.cap))
            return
        watch = multipart_watch(headers.get(b"content-type"), plan.files, self._limits)
        pace = _BodyPace(self._limits)
        seen = 0
        refused = False
        started = False
        body_done = False

        async def refuse(status: int, detail: str) -> Message:
            # Answer ourselves and tell the app the client left, so it stops reading
            # (frameworks turn a raised error into their own 400).
            nonlocal refused
            refused = True
            if not started:
                await _answer(scope, receive, send, status, detail)
            return {"type": "http.disconnect"}

        async def guarded_receive() -> Message:
            nonlocal seen
            nonlocal body_done
            if refused:
                return {"type": "http.disconnect"}
            if body_done:  # the app waits to hear of a disconnect: no deadline for that
                return await receive()
            with anyio.move_on_after(pace.wait_s(seen)) as waiting:
                message = await receive()
            if waiting.cancelled_caught:
                log.warning("request body too slow: %d bytes so far", seen)
                return await refuse(408, _too_slow(self._limits))
            if message["type"] != "http.request":
                return message
            body_done = not message.get("more_body", False)
            body = message.get("body", b"")
            seen += len(body)
            if seen > plan.cap:
                return await refuse(413, _too_large(plan.cap))
            if watch is not None and body:
                body = watch.feed(body)
                if watch.refusal is not None:
                    return await refuse(*watch.refusal)
                message = {**message, "body": body}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # our refusal is the answer
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, guarded_receive, guarded_send)


def _encoded_body(headers: list[tuple[bytes, bytes]], declared: bytes | None) -> bool:
    """Whether the request sends a body in a content coding other than ``identity``."""
    if declared in (None, b"0") and not any(name == b"transfer-encoding" for name, _ in headers):
        return False  # no body: a stray header changes nothing
    codings = (
        token.strip().lower()
        for name, value in headers
        if name == b"content-encoding"
        for token in value.split(b",")
    )
    return any(coding not in (b"", b"identity") for coding in codings)


def _too_large(cap: int) -> str:
    return f"request body larger than the {cap} byte limit for this route"


class _BodyPace:
    """When a request body's next chunk must have come (``LimitsSettings.body_grace_s`` and
    ``min_body_bytes_per_s``): within the grace from the first read, and after it as long as
    the body keeps the minimum average rate. A total deadline would cut off a large upload
    on a slow link; a rate lets it go on and still frees a trickled connection in seconds."""

    def __init__(self, limits: LimitsSettings) -> None:
        self._grace_s = limits.body_grace_s
        self._rate = limits.min_body_bytes_per_s
        self._began: float | None = None

    def wait_s(self, seen: int) -> float:
        """Seconds the next chunk may take, given ``seen`` bytes so far."""
        now = time.monotonic()
        if self._began is None:
            self._began = now
        if self._rate <= 0:
            return math.inf
        return self._began + max(self._grace_s, seen / self._rate) - now


def _too_slow(limits: LimitsSettings) -> str:
    return (
        f"the request body arrived too slowly (under {limits.min_body_bytes_per_s} bytes a"
        " second): send it without pauses"
    )


async def _within_rate(scope: Scope, receive: Receive, send: Send) -> bool:
    """False once a 429 was sent: the caller or its tenant is over its rate (api.rate_limits),
    checked here so that a refused upload is never read."""
    principal = scope.get("state", {}).get(PRINCIPAL_STATE_KEY)
    refusal = await over_rate(scope, principal) if isinstance(principal, Principal) else None
    if refusal is not None:
        await _answer(scope, receive, send, 429, public_detail(refusal), error_headers(refusal))
    return refusal is None


async def _redirect(scope: Scope, receive: Receive, send: Send, location: str) -> None:
    response = RedirectResponse(location, status_code=303, headers={"Connection": "close"})
    await response(scope, receive, send)


async def _unavailable(
    scope: Scope, receive: Receive, send: Send, exc: Exception, what: str
) -> None:
    """Authentication could not be decided. The caller's lookup is the request's first
    database call, so a database outage shows here first: a 503 naming it, not a 500."""
    domain = exc if isinstance(exc, ZhikuError) else database_outage(exc)
    if domain is None:
        log.exception("%s failed", what)
        await _answer(scope, receive, send, 503, "authentication is unavailable, try again")
        return
    log.warning("%s failed: %s", what, domain)
    status, detail = status_for(domain), public_detail(domain)
    await _answer(scope, receive, send, status, detail, error_headers(domain))


async def _answer(
    scope: Scope,
    receive: Receive,
    send: Send,
    status: int,
    detail: str,
    headers: dict[str, str] | None = None,
) -> None:
    # The body may be left unread: close the connection rather than read it to reuse it.
    detail = localize(detail, language_of(HTTPConnection(scope))) or detail
    response = JSONResponse(
        {"detail": detail}, status_code=status, headers={**(headers or {}), "Connection": "close"}
    )
    await response(scope, receive, send)
