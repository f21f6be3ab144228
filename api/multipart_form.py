"""Upload forms parsed with two corrections to Starlette's multipart parser, for the routes
that read files (``UploadRoute``):

- a part's file name is its ``filename*`` when it has one (``api.multipart_names``): such a
  part was read as a text field, or kept its plain ``filename`` stand-in;
- a text field must be text in the form's charset (UTF-8 unless the request says otherwise):
  Starlette decoded one that is not as Latin-1, so an access list or tags were stored
  garbled. It is refused (400), naming the field;
- the form's charset, when the request names one (browsers do not), is UTF-8 or one of the
  national charsets Chinese software still sends (GB18030, GBK, GB2312, Big5) or Latin-1;
  any other is refused (400). Starlette looked it up among all of Python's codecs, so a
  sender chose the decoder of every field and file name: ``unicode_escape`` turned plain
  ASCII into NUL bytes, and a codec that is no text encoding raised an error of its own;
- a text field the route does not read, or one sent twice, is refused (400), naming it: a
  misspelt field was ignored, and of two ``tags`` or ``access`` fields the last silently won.
  Files may repeat (``files`` is a list); they are the route's own to check.
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Coroutine
from contextlib import aclosing
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser

from api.multipart_names import BadExtendedName, extended_name

# By their codec's name (``codecs.lookup``).
FORM_CHARSETS = frozenset({"utf-8", "gb18030", "gbk", "gb2312", "big5", "big5hkscs", "iso8859-1"})
UNKNOWN_FORM_CHARSET = (
    "a form's charset is UTF-8, GB18030, GBK, GB2312, Big5 or ISO-8859-1:"
    " send charset=utf-8, or no charset"
)


def _readable_charset(charset: bytes) -> bool:
    try:
        return codecs.lookup(charset.decode("latin-1")).name in FORM_CHARSETS
    except LookupError:
        return False


class _UploadParser(MultiPartParser):
    def on_headers_finished(self) -> None:
        part = self._current_part
        try:
            name = extended_name(part.content_disposition)
        except BadExtendedName as exc:
            raise MultiPartException(
                "a file name sent as filename* must be percent-encoded UTF-8:"
                " filename*=UTF-8''%E6%8A%A5%E5%91%8A.docx"
            ) from exc
        if name is None:
            super().on_headers_finished()
            return
        # The base parser makes a part a file only for a plain ``filename``: one is added
        # for it, then replaced by the name sent.
        part.content_disposition += b'; filename="-"'
        super().on_headers_finished()
        assert part.file is not None
        part.file.filename = name

    def on_part_end(self) -> None:
        part = self._current_part
        if part.file is None:
            try:
                bytes(part.data).decode(self._charset)
            except (UnicodeDecodeError, LookupError) as exc:
                raise MultiPartException(
                    f"form field {part.field_name!r} is not valid {self._charset} text"
                ) from exc
        super().on_part_end()


class UploadRequest(Request):
    def __init__(self, scope: Any, receive: Any, fields: frozenset[str]) -> None:
        super().__init__(scope, receive)
        self._fields = fields  # the route's own form fields, by name

    async def _get_form(
        self,
        *,
        max_files: int | float = 1000,
        max_fields: int | float = 1000,
        max_part_size: int = 1024 * 1024,
    ) -> FormData:
        # Starlette's own ``_get_form`` caches what it parsed in ``_form`` and returns it:
        # a multipart form is parsed here instead, and every other body left to it.
        kind, options = parse_options_header(self.headers.get("Content-Type"))
        if self._form is None and kind == b"multipart/form-data":
            charset = options.get(b"charset")
            if charset is not None and not _readable_charset(charset):
                raise HTTPException(status_code=400, detail=UNKNOWN_FORM_CHARSET)
            try:
                async with aclosing(self.stream()) as stream:
                    parser = _UploadParser(
                        self.headers,
                        stream,
                        max_files=max_files,
                        max_fields=max_fields,
                        max_part_size=max_part_size,
                    )
                    self._form = await parser.parse()
            except MultiPartException as exc:
                raise HTTPException(status_code=400, detail=exc.message) from exc
            self._check_fields(self._form)
        return await super()._get_form(
            max_files=max_files, max_fields=max_fields, max_part_size=max_part_size
        )

    def _check_fields(self, form: FormData) -> None:
        seen: set[str] = set()
        for name, value in form.multi_items():
            if name not in self._fields:
                known = ", ".join(sorted(self._fields))
                raise HTTPException(400, f"form field {name!r} is not read here; send {known}")
            if isinstance(value, str):
                if name in seen:
                    raise HTTPException(400, f"form field {name!r} is sent more than once")
                seen.add(name)


class UploadRoute(APIRoute):
    """A route whose form is read by ``UploadRequest`` (FastAPI's custom request class)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        fields = frozenset(param.alias or param.name for param in self.dependant.body_params)

        async def with_upload_form(request: Request) -> Response:
            return await handler(UploadRequest(request.scope, request.receive, fields))

        return with_upload_form
