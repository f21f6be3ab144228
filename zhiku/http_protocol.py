"""uvicorn's HTTP protocol with a deadline on a request's headers.

uvicorn times out an idle kept-alive connection (``timeout_keep_alive``) but not one that is
sending headers: every byte received cancels that timer and nothing else is armed until a
request's headers are whole, so a client trickling a header byte every few seconds held its
connection for as long as it liked (slowloris; the body is ``api.limits``' to pace). Here a
connection must complete a request's headers within ``timeout_s`` of being opened, and of each
answer on it, or it is closed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.auto import AutoHTTPProtocol


def header_timed(timeout_s: float, base: Any = AutoHTTPProtocol) -> type[asyncio.Protocol]:
    """``base`` (uvicorn's httptools or h11 protocol) with the header deadline; pass it to
    uvicorn as ``http=``."""

    class HeaderTimedProtocol(base):  # type: ignore[misc,valid-type]
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm_header_timer()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            self._arm_header_timer()  # the next request's headers, on a kept-alive connection

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_header_timer()
            super().connection_lost(exc)

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
