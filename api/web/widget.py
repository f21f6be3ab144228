"""The embeddable chat widget: one script tag on a CRM or office page, a chat-only key.

``GET /widget.js`` is one self-contained script (it runs on other sites' pages, so it cannot
import the portal's modules): its words in both languages and its style sheet are written
into it here, once, from ``api/web/messages/widget.py`` and ``static/css/widget.css``.
``GET /widget/frame`` is the same chat in a page of its own, for sites that prefer an iframe:
it takes its key by ``postMessage`` from the page that embeds it, never in its address.
Neither needs a session or a key to load (``RequestGuard`` leaves ``/widget`` public); the
key is checked on each question. The design and its threat model: ``docs/widget.md``.
"""

from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.web import i18n
from api.web.pages import render

router = APIRouter(include_in_schema=False)

_STATIC = Path(__file__).parent / "static"
_WORDS_SLOT = "/*ZHIKU_WORDS*/null"
_CSS_SLOT = '/*ZHIKU_CSS*/""'
# Cached by browsers and proxies for an hour, then revalidated by its ETag.
SCRIPT_MAX_AGE_S = 3600

# The frame is meant to be framed by any site: it holds no session and no authority of its
# own (its key comes from the embedding page, and the server checks that page's origin).
FRAME_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " connect-src 'self'; frame-ancestors *; base-uri 'none'; form-action 'none';"
        " object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def widget_words() -> dict[str, dict[str, str]]:
    """Every ``widget_`` word, by language."""
    return {
        language: {k: v for k, v in words.items() if k.startswith("widget_")}
        for language, words in i18n.CATALOGUE.items()
    }


@cache
def script() -> tuple[bytes, str]:
    """The script with its words and style sheet written in, and its ETag."""
    source = (_STATIC / "widget.js").read_text(encoding="utf-8")
    css = (_STATIC / "css" / "widget.css").read_text(encoding="utf-8")
    if _WORDS_SLOT not in source or _CSS_SLOT not in source:
        raise RuntimeError("widget.js lost its slots for words and style")
    body = source.replace(_WORDS_SLOT, json.dumps(widget_words())).replace(
        _CSS_SLOT, json.dumps(css)
    )
    encoded = body.encode("utf-8")
    return encoded, '"' + hashlib.sha256(encoded).hexdigest()[:32] + '"'


@router.get("/widget.js")
def widget_script(request: Request) -> Response:
    body, etag = script()
    headers = {
        "ETag": etag,
        "Cache-Control": f"public, max-age={SCRIPT_MAX_AGE_S}",
        "X-Content-Type-Options": "nosniff",
        # Loaded by other sites' pages, including ones that isolate themselves (COEP).
        "Cross-Origin-Resource-Policy": "cross-origin",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)


@router.get("/widget/frame")
def widget_frame(request: Request) -> HTMLResponse:
    response = render(request, "widget/frame.html")
    del response.headers["X-Frame-Options"]
    response.headers.update(FRAME_HEADERS)
    return response
