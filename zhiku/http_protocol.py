"""uvicorn's HTTP protocol with a deadline on a request's headers, and a cap on their size.

uvicorn times out an idle kept-alive connection (``timeout_keep_alive``) but not one that is
sending headers: every byte received cancels that timer and nothing else is armed until a
request's headers are whole, so a client trickling a header byte every few seconds held its
connection for as long as it liked (slowloris; the body is ``api.limits``' to pace). Here a
connection must complete a request's headers within ``timeout_s`` of being opened, and of each
answer on it, or it is closed.

The size: uvicorn's h11 protocol refuses headers past ``h11_max_incomplete_event_size``, but
its httptools protocol (the one ``zhiku serve`` runs when httptools is installed, as it is)
has no limit at all: 64 MiB of headers sent in a tenth of a second were read into memory and
handed to the app, so a few clients could exhaust the server's memory within the deadline.
Here a request's line and headers past ``max_header_bytes`` are answered 431 and the
connection closed, having read at most one network read past the cap.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol

# Room for any real request's headers (cookies, a key, a long list of ``?id=`` filters).
DEFAULT_MAX_HEADER_BYTES = 32 * 1024


def header_timed(
    timeout_s: float,
    base: Any = AutoHTTPProtocol,
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES,
) -> type[asyncio.Protocol]:
    """``base`` (uvicorn's httptools or h11 protocol) with the header deadline and, for
    httptools, the size cap (h11 has its own: ``h11_max_incomplete_event_size``); pass it to
    uvicorn as ``http=``."""
    # httptools tells its protocol where a request's head ends and its message ends; h11's
    # protocol has no such callbacks (nor needs them).
    counts_heads = hasattr(base, "on_headers_complete") and hasattr(base, "on_message_complete")

    class HeaderTimedProtocol(base):  # type: ignore[misc,valid-type]
        _header_timer: asyncio.TimerHandle | None = None
        # Whether the bytes arriving are a request's line and headers, how many so far, and
        # how many heads have completed on this connection.
        _in_head = True
        _head_bytes = 0
        _heads_done = 0

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_header_timer()

        def data_received(self, data: bytes) -> None:
            was_in_head, heads_done = self._in_head, self._heads_done
            super().data_received(data)
            if not counts_heads:
                return
            if not (was_in_head and self._in_head) or self._heads_done != heads_done:
                # A head completed in this read, or a body arrived: counting starts afresh.
                self._head_bytes = 0
                return
            self._head_bytes += len(data)
            if self._head_bytes > max_header_bytes and not self.transport.is_closing():
                self._refuse_head()

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._heads_done += 1
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._in_head = True  # the next request's head, on a kept-alive connection

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm_header_timer()  # the next request's headers, on a kept-alive connection

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_header_timer()
            super().connection_lost(exc)

        def _refuse_head(self) -> None:
            # No request exists yet (its headers are not whole), so the app cannot answer:
            # the answer is written here, in the API's error shape, and the connection closed.
            body = json.dumps(
                {"detail": f"request headers larger than the {max_header_bytes} byte limit"}
            ).encode()
            self.transport.write(
                b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                b"content-type: application/json\r\n"
                b"content-length: " + str(len(body)).encode() + b"\r\n"
                b"connection: close\r\n\r\n" + body
            )
            self.transport.close()

        def _arm_header_timer(self) -> None:
            self._cancel_header_timer()
            if not self.transport.is_closing():
                self._header_timer = self.loop.call_later(timeout_s, self._headers_overdue)

        def _cancel_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_overdue(self) -> None:
            self._header_timer = None
            # No request began since the timer was armed (uvicorn makes a cycle once a
            # request's headers are whole): its headers are overdue, or it is idle.
            if self.cycle is None or self.cycle.response_complete:
                self.transport.close()

    return HeaderTimedProtocol
