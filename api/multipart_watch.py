"""An upload's multipart stream followed as it arrives (for ``api.limits.RequestGuard``): too
many files or fields is refused at once, and a file past the per-file limit is cut to one byte
over it, so the route refuses that file alone without spooling the rest."""

from __future__ import annotations

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from api.multipart_names import has_extended_name
from core.settings import LimitsSettings


class MultipartWatch:
    """Follows an upload's multipart stream beside the framework's own parser.

    Counts file parts and field parts, and sizes each; ``feed`` returns the chunk to pass on,
    less the bytes of a file past ``max_upload_bytes + 1`` (enough for the route to refuse that
    file, and no more on disk). A stream it cannot follow is left to the framework (400).
    """

    def __init__(self, boundary: bytes, limits: LimitsSettings, max_files: int) -> None:
        self.refusal: tuple[int, str] | None = None
        self._limits = limits
        self._max_files = max_files
        self._files = 0
        self._fields = 0
        self._is_file = False
        self._part_bytes = 0
        self._header_bytes = 0
        self._header_name = b""
        self._header_value = b""
        self._disposition = b""
        self._chunk = b""
        self._cuts: list[tuple[int, int]] = []
        self._lost = False
        self._parser = MultipartParser(
            boundary,
            callbacks={
                "on_part_begin": self._on_part_begin,
                "on_header_field": self._on_header_field,
                "on_header_value": self._on_header_value,
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_part_data": self._on_part_data,
            },
        )

    def feed(self, chunk: bytes) -> bytes:
        if self._lost:
            return chunk
        self._chunk, self._cuts = chunk, []
        try:
            self._parser.write(chunk)
        except Exception:  # malformed: the framework's parser answers it
            self._lost = True
            return chunk
        if not self._cuts:
            return chunk
        kept, start = [], 0
        for cut_start, cut_end in self._cuts:
            kept.append(chunk[start:cut_start])
            start = cut_end
        kept.append(chunk[start:])
        return b"".join(kept)

    def _refuse(self, status: int, detail: str) -> None:
        if self.refusal is None:
            self.refusal = (status, detail)

    def _on_part_begin(self) -> None:
        self._is_file = False
        self._part_bytes = self._header_bytes = 0
        self._header_name = self._header_value = self._disposition = b""

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self._header_name += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._count_header(end - start)
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        if self._header_name.strip().lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def _count_header(self, length: int) -> None:
        self._header_bytes += length
        if self._header_bytes > self._limits.max_part_header_bytes:
            self._refuse(400, f"a part's headers exceed {self._limits.max_part_header_bytes} bytes")

    def _on_headers_finished(self) -> None:
        _, options = parse_options_header(self._disposition)
        # python-multipart's options never hold ``filename*``: read apart (api.multipart_names).
        self._is_file = b"filename" in options or has_extended_name(self._disposition)
        if self._is_file:
            self._files += 1
            if self._files > self._max_files:
                self._refuse(400, f"at most {self._max_files} files per upload")
        else:
            self._fields += 1
            if self._fields > self._limits.max_form_fields:
                self._refuse(400, f"at most {self._limits.max_form_fields} form fields")

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        length = end - start
        if not self._is_file:
            self._part_bytes += length
            if self._part_bytes > self._limits.max_form_field_bytes:
                self._refuse(413, f"a form field exceeds {self._limits.max_form_field_bytes} bytes")
            return
        room = max(0, self._limits.max_upload_bytes + 1 - self._part_bytes)
        self._part_bytes += length
        # Only bytes of the chunk in hand can be cut; the parser may also hand back a few
        # bytes held over from the previous chunk (a boundary that was not one).
        if length > room and data is self._chunk:
            self._cuts.append((start + room, end))


def multipart_watch(
    content_type: bytes | None, max_files: int | None, limits: LimitsSettings
) -> MultipartWatch | None:
    """A watch over an upload of at most ``max_files`` files (None: not an upload) sent as
    ``multipart/form-data``; None for anything else, and for a header the multipart parser
    refuses (a boundary past its 256-byte limit): the framework's parser refuses it too, a
    400, where a watch that raised here, before any route, was a 500."""
    if max_files is None or content_type is None:
        return None
    kind, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        return None
    try:
        return MultipartWatch(boundary, limits, max_files)
    except FormParserError:
        return None
