"""What each kind of API key may call: one table, checked in one place (``RequestGuard``).

A key's scope is ``full`` (everything its user may do), ``chat`` (ask, and read what it asked:
the embeddable widget's key, visible to anyone who views the page it is on) or ``upload``
(add documents and follow their processing: a scanner or a mail gateway). A ``full`` key and
a browser session pass this check untouched; the routes' own permission checks still apply.

Every route of the app is classified here, by method and path template, or by a family of
paths that share one answer (the admin API, the pages). A route that is not classified is
refused to every scoped key (fail closed), and ``tests/api/test_key_scopes.py`` enumerates the
app's routes so a new route cannot ship unclassified.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Final

from fastapi.routing import iter_route_contexts
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

FULL: Final = "full"
CHAT: Final = "chat"
UPLOAD: Final = "upload"
SCOPES: Final = (FULL, CHAT, UPLOAD)

_NONE: frozenset[str] = frozenset()
_CHAT = frozenset({CHAT})
_UPLOAD = frozenset({UPLOAD})

# (method, path template) -> the scoped keys that may call it, besides ``full``. An empty set:
# a full key (or a session) only. HEAD goes as GET.
ROUTES: dict[tuple[str, str], frozenset[str]] = {
    # Asking: the widget's whole job.
    ("POST", "/v1/chat"): _CHAT,
    ("POST", "/v1/chat/completions"): _CHAT,
    ("GET", "/v1/models"): _CHAT,
    ("GET", "/v1/models/{model_id}"): _CHAT,
    ("GET", "/v1/me"): _CHAT,
    # A conversation by its id, which only the visitor who started it was told. Not the list:
    # everyone who uses a public widget shares its key, and would read each other's questions.
    ("GET", "/v1/conversations/{conversation_id}"): _CHAT,
    ("DELETE", "/v1/conversations/{conversation_id}"): _CHAT,
    ("GET", "/v1/conversations"): _NONE,
    # Documents: an upload key adds them and follows the ones its user uploaded
    # (``services.documents`` hides the rest from it).
    ("POST", "/v1/documents"): _UPLOAD,
    ("GET", "/v1/documents/{doc_id}"): _UPLOAD,
    ("GET", "/v1/documents"): _NONE,
    ("POST", "/v1/documents/{doc_id}/versions"): _NONE,
    ("POST", "/v1/documents/{doc_id}/retry"): _NONE,
    ("PATCH", "/v1/documents/{doc_id}/access"): _NONE,
    ("DELETE", "/v1/documents/{doc_id}"): _NONE,
    # What an answer cites, read directly: documents, which a chat key must not hand out.
    # (The chat's own events carry the excerpts it answered from, and nothing more.)
    ("GET", "/v1/documents/{document_id}/passages/{chunk_id}"): _NONE,
    ("GET", "/v1/documents/{document_id}/file"): _NONE,
    # Raw passages: what a chat key must not hand out wholesale.
    ("POST", "/v1/search"): _NONE,
    # The tenant's people and groups (the sharing picker).
    ("GET", "/v1/directory"): _NONE,
    # Rating an answer is the portal's (the widget does not ask its visitors to).
    ("POST", "/v1/answers/{answer_id}/feedback"): _NONE,
    # The caller's own keys and password: a scoped key mints nothing and changes nothing.
    ("GET", "/v1/me/keys"): _NONE,
    ("POST", "/v1/me/keys"): _NONE,
    ("DELETE", "/v1/me/keys/{key_id}"): _NONE,
    ("POST", "/v1/me/keys/{key_id}/rotate"): _NONE,
    ("POST", "/v1/me/password"): _NONE,
}

# Families of paths with one answer: full keys only. Administration, the audit trail, the
# browser sign-in API, and the pages (a key never drives the portal).
FULL_ONLY_PREFIXES: tuple[str, ...] = ("/v1/admin/", "/v1/audit/", "/v1/auth/")


def _is_page(path: str) -> bool:
    return not path.startswith("/v1/")


def classify(method: str, template: str) -> frozenset[str] | None:
    """The scoped keys that may call ``method template``; None: not classified."""
    method = "GET" if method == "HEAD" else method
    found = ROUTES.get((method, template))
    if found is not None:
        return found
    if template.startswith(FULL_ONLY_PREFIXES) or _is_page(template):
        return _NONE
    return None


def app_routes(routes: Sequence[BaseRoute]) -> Iterator[tuple[str, str]]:
    """Every (method, path template) the app serves, included routers flattened (mounts,
    the static files, are left out: they have no methods and are public)."""
    for context in iter_route_contexts(routes):
        for method in sorted(context.methods or ()):
            if context.path is not None:
                yield method, context.path


def matching_route(routes: Sequence[BaseRoute], scope: Scope) -> str | None:
    """The path template of the route Starlette will call for this request (the same
    matching), if any."""
    for context in iter_route_contexts(routes):
        if context.methods is not None and context.matches(scope)[0] is Match.FULL:
            return context.path
    return None


def allowed_scopes(routes: Sequence[BaseRoute], scope: Scope) -> frozenset[str]:
    """The scoped keys that may make this request; nothing for an unknown or unclassified
    route (fail closed)."""
    template = matching_route(routes, scope)
    if template is None:
        return _NONE
    return classify(scope["method"], template) or _NONE


def refusal(key_scope: str, method: str, path: str) -> str:
    """Why a key of ``key_scope`` may not make this request (403)."""
    return (
        f"this API key's scope is {key_scope!r}: it may not call {method} {path[:200]} "
        "(use a full key, or sign in)"
    )
