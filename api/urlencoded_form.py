"""URL-encoded form bodies (``application/x-www-form-urlencoded``) read as UTF-8 text, or
refused, for every route.

Starlette decodes such a body leniently: its raw bytes as Latin-1 (UTF-8 sent unescaped
became mojibake) and its percent-escapes as UTF-8 with replacement (``%FF`` became U+FFFD),
so a sign-in name, a password or a CSRF token was compared, and a form field stored, as
something the client never sent. Here, before any route reads it, each field's name and
value is percent-decoded to bytes and decoded as strict UTF-8: one that is not is refused
with the multipart path's 400 (``api.multipart_form``), naming the field, in the caller's
language. A body with raw UTF-8 goes on percent-escaped, so the route reads the text sent.

Fields are split as Starlette splits them (python-multipart's ``QuerystringParser``), so
the check sees the fields the route will. The body is already capped by ``RequestGuard``,
which runs before this.

A query string is the same format and was decoded the same lenient way (``?q=%FF`` searched
for U+FFFD): its parameters are held to the same rule, on every route, with the query's own
400 ("query parameter 'q' is not valid utf-8 text").
"""

from __future__ import annotations

from urllib.parse import unquote_to_bytes, urlencode

from python_multipart.multipart import QuerystringParser, parse_options_header
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.reasons import language_of, localize

URLENCODED = b"application/x-www-form-urlencoded"


class NotUtf8Field(ValueError):
    def __init__(self, name: str, what: str = "form field") -> None:
        # The wording of the multipart refusal, localized by the same reason.
        super().__init__(f"{what} {name!r} is not valid utf-8 text")


def _text(raw: bytes) -> str:
    return unquote_to_bytes(raw.replace(b"+", b" ")).decode("utf-8")


def form_fields(body: bytes, what: str = "form field") -> list[tuple[str, str]]:
    """The body's (name, value) pairs as text; :class:`NotUtf8Field` for the first field
    whose name or value is not UTF-8 once percent-decoded (``what`` names such a field)."""
    fields: list[tuple[bytes, bytes]] = []
    name, value = bytearray(), bytearray()

    def field_start() -> None:
        name.clear()
        value.clear()

    def field_end() -> None:
        fields.append((bytes(name), bytes(value)))

    parser = QuerystringParser(
        {
            "on_field_start": field_start,
            "on_field_name": lambda data, start, end: name.extend(data[start:end]),
            "on_field_data": lambda data, start, end: value.extend(data[start:end]),
            "on_field_end": field_end,
        }
    )
    parser.write(body)
    parser.finalize()
    out: list[tuple[str, str]] = []
    for raw_name, raw_value in fields:
        try:
            field = _text(raw_name)
        except UnicodeDecodeError:
            # Named as well as it can be: the undecodable bytes shown as U+FFFD.
            name_shown = unquote_to_bytes(raw_name).decode("utf-8", "replace")
            raise NotUtf8Field(name_shown, what) from None
        try:
            out.append((field, _text(raw_value)))
        except UnicodeDecodeError:
            raise NotUtf8Field(field, what) from None
    return out


class StrictUrlencodedForms:
    """ASGI middleware: see the module's docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        query = scope.get("query_string", b"") if scope["type"] == "http" else b""
        if b"%" in query:  # raw bytes past ASCII are refused by the HTTP parser already
            try:
                form_fields(query, "query parameter")
            except NotUtf8Field as exc:
                await _refuse(scope, receive, send, exc)
                return
        headers = dict(scope.get("headers") or []) if scope["type"] == "http" else {}
        kind, _ = parse_options_header(headers.get(b"content-type", b""))
        if kind != URLENCODED:
            await self.app(scope, receive, send)
            return
        body, last = await read_body(receive)
        if last["type"] == "http.request":
            try:
                fields = form_fields(body)
            except NotUtf8Field as exc:
                await _refuse(scope, receive, send, exc)
                return
            if not body.isascii():
                body = urlencode(fields).encode("ascii")
                scope = {**scope, "headers": _with_length(scope["headers"], len(body))}
        await self.app(scope, replay(body, last, receive), send)


async def _refuse(scope: Scope, receive: Receive, send: Send, exc: NotUtf8Field) -> None:
    detail = localize(str(exc), language_of(HTTPConnection(scope))) or str(exc)
    await JSONResponse({"detail": detail}, status_code=400)(scope, receive, send)


async def read_body(receive: Receive) -> tuple[bytes, Message]:
    """The whole body, and the message that ended it (the last body part, or a disconnect:
    the guard refused it, or the client left)."""
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(parts), message
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(parts), message


def replay(body: bytes, last: Message, receive: Receive) -> Receive:
    """The app's ``receive``: the body (or the disconnect) once, then the client's own."""
    pending = [
        {"type": "http.request", "body": body, "more_body": False}
        if last["type"] == "http.request"
        else last
    ]

    async def replayed() -> Message:
        return pending.pop() if pending else await receive()

    return replayed


def _with_length(headers: list[tuple[bytes, bytes]], length: int) -> list[tuple[bytes, bytes]]:
    kept = [(k, v) for k, v in headers if k.lower() != b"content-length"]
    return [*kept, (b"content-length", str(length).encode())]
