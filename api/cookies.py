"""Browser sessions on the wire: the cookies, the CSRF header, and the same-origin check.

Only plain helpers over ASGI headers live here (``api.limits.RequestGuard`` and the sign-in
routes both use them); which requests need what is decided in ``RequestGuard``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from starlette.requests import Request, cookie_parser
from starlette.responses import Response
from starlette.types import Scope

from services.sign_in import SessionCaller, SignInService

SESSION_COOKIE = "zhiku_session"
# The pre-session token of the sign-in form (login CSRF, double-submit).
LOGIN_CSRF_COOKIE = "zhiku_login_csrf"
CSRF_HEADER = "X-CSRF-Token"
# Where ``RequestGuard`` leaves a cookie-authenticated caller's ``WebAuth``.
WEB_AUTH_STATE_KEY = "web_auth"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# A session token as ``secrets.token_urlsafe(32)`` makes it; anything else is refused unread.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{32,128}")


@dataclass(frozen=True)
class WebAuth:
    """A request authenticated by its session cookie: the token (for sign-out and the CSRF
    token) and who it belongs to."""

    token: str
    caller: SessionCaller


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or []:
        if key == name:
            return value.decode("latin-1")
    return None


def session_token(scope: Scope) -> str | None:
    """The session cookie's token when it has a token's shape, else None."""
    raw = header(scope, b"cookie")
    token = cookie_parser(raw).get(SESSION_COOKIE) if raw else None
    return token if token and _TOKEN_SHAPE.fullmatch(token) else None


def cookie(scope: Scope, name: str) -> str | None:
    raw = header(scope, b"cookie")
    return cookie_parser(raw).get(name) if raw else None


def own_origin(scope: Scope) -> str:
    host = header(scope, b"host") or ""
    return f"{scope.get('scheme', 'http')}://{host}".lower()


def same_origin(scope: Scope, allowed: list[str], *, required: bool = True) -> bool:
    """Whether a changing request comes from our own pages: its Origin (or, without one,
    its Referer) is this server or one of ``allowed``. Neither header: ``not required``
    (browsers send Origin on every POST, so a cookie request without one is no browser's
    and is refused; a script signing in sends neither, and that is fine)."""
    origin = header(scope, b"origin")
    if origin is None or origin == "null":
        referer = header(scope, b"referer")
        if not referer:
            return origin is None and not required
        parts = urlsplit(referer)
        origin = f"{parts.scheme}://{parts.netloc}"
    origin = origin.lower().rstrip("/")
    return origin == own_origin(scope) or origin in {o.lower().rstrip("/") for o in allowed}


def sign_in_service(scope: Scope) -> SignInService:
    return scope["app"].state.runtime.services.sign_in


def origin_ok(scope: Scope, *, required: bool = True) -> bool:
    return same_origin(scope, sign_in_service(scope).web.allowed_origins, required=required)


def is_https(scope: Scope) -> bool:
    return scope.get("scheme") == "https"


def set_session_cookie(
    response: Response, token: str, expires_at: datetime, *, secure: bool
) -> None:
    """HttpOnly (no script reads it), SameSite=Lax (not sent on cross-site POSTs), Secure
    over HTTPS or when configured; it lasts as long as the session may."""
    response.set_cookie(
        SESSION_COOKIE,
        token,
        expires=expires_at,
        path="/",
        secure=secure,
        httponly=True,
        samesite="lax",
    )


def clear_session_cookie(response: Response, *, secure: bool) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/", secure=secure, httponly=True, samesite="lax")


def web_auth_of(request: Request) -> WebAuth | None:
    """The session a request was authenticated with (None: an API key, or no session)."""
    auth = getattr(request.state, WEB_AUTH_STATE_KEY, None)
    return auth if isinstance(auth, WebAuth) else None


def secure_for(request: Request) -> bool:
    """Whether this request's cookies are marked Secure."""
    return sign_in_service(request.scope).cookie_secure or is_https(request.scope)
