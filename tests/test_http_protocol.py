"""``zhiku serve``'s HTTP protocol closes a connection whose request headers do not arrive
whole within the deadline, trickled or idle, with both of uvicorn's parsers (uvicorn alone
held such a connection as long as the client liked); a request sent at once is answered, and
a kept-alive connection serves its next request."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from tests.live import free_port, wait_http
from zhiku.http_protocol import header_timed

DEADLINE_S = 1.0


async def _app(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(scope="module", params=[H11Protocol, HttpToolsProtocol], ids=["h11", "httptools"])
def port(request: pytest.FixtureRequest) -> Iterator[int]:
    port = free_port()
    config = uvicorn.Config(
        _app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        http=header_timed(DEADLINE_S, request.param),
        timeout_keep_alive=30,  # longer than the deadline: the deadline is what closes
        lifespan="off",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_http(f"http://127.0.0.1:{port}/", timeout_s=20)
    yield port
    server.should_exit = True
    thread.join(10)


def _closed_after(sock: socket.socket, feed: bytes, pause_s: float) -> float:
    """Send ``feed`` a byte every ``pause_s`` (then nothing) until the server closes; seconds."""
    began = time.monotonic()
    sock.settimeout(pause_s)
    for byte in feed:
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            return time.monotonic() - began
        try:
            if sock.recv(1024) == b"":
                return time.monotonic() - began
        except TimeoutError:
            pass
    sock.settimeout(10)
    assert sock.recv(1024) == b""
    return time.monotonic() - began


def test_trickled_headers_are_cut_off(port: int) -> None:
    feed = b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 200
    with socket.create_connection(("127.0.0.1", port)) as sock:
        assert _closed_after(sock, feed, 0.2) < DEADLINE_S + 2


def test_an_idle_new_connection_is_closed(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        assert _closed_after(sock, b"", 0.2) < DEADLINE_S + 2


def test_requests_on_a_kept_alive_connection_are_answered(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for _ in range(3):
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(1024).startswith(b"HTTP/1.1 200")
            time.sleep(DEADLINE_S / 2)
        # Then idle with the next request's headers unsent: closed by the deadline.
        assert _closed_after(sock, b"GET / HT", 0.2) < DEADLINE_S + 2
