"""Which requests count against a rate (``services.rate_limits``), and the check itself, as
``api.limits.RequestGuard`` runs it: after authentication, before the body is read."""

from __future__ import annotations

import re

from starlette.types import Scope

from core.access import Principal
from core.errors import TooManyRequests
from services.rate_limits import Family, RateLimiter

_VERSION_UPLOAD = re.compile(r"/v1/documents/[^/]+/versions")


def family_of(scope: Scope) -> Family | None:
    """The rate family of a request: a search, a question (/v1/chat, the OpenAI-compatible
    /v1/chat/completions), an upload (a new document or version); None: not counted."""
    if scope["method"] != "POST":
        return None
    path = scope["path"].rstrip("/")
    if path == "/v1/search":
        return "search"
    if path == "/v1/chat" or path.startswith("/v1/chat/"):
        return "chat"
    if path == "/v1/documents" or _VERSION_UPLOAD.fullmatch(path):
        return "upload"
    return None


def over_rate(scope: Scope, principal: Principal) -> TooManyRequests | None:
    """The refusal (429) when this request is over its caller's or tenant's rate; None: go
    on. An in-process check or one Redis round trip, so it runs on the loop."""
    family = family_of(scope)
    limiter: RateLimiter | None = getattr(scope["app"].state.runtime.services, "rate_limits", None)
    if family is None or limiter is None or not limiter.enabled:
        return None
    try:
        limiter.check(principal, family)
    except TooManyRequests as exc:
        return exc
    return None
