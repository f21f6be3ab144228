"""``zhiku serve``'s HTTP protocol closes a connection whose request headers do not arrive
whole within the deadline, trickled or idle, with both of uvicorn's parsers (uvicorn alone
held such a connection as long as the client liked); a request sent at once is answered, and
a kept-alive connection serves its next request. Headers past the size cap are refused with
either parser (uvicorn's httptools protocol read 64 MiB of them into memory and handed them
to the app), without a false refusal of a request whose body arrives with its headers."""

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
MAX_HEADER_BYTES = 8 * 1024


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
        http=header_timed(DEADLINE_S, request.param, max_header_bytes=MAX_HEADER_BYTES),
        timeout_keep_alive=30,  # longer than the deadline: the deadline is what closes
        h11_max_incomplete_event_size=MAX_HEADER_BYTES,  # as ``zhiku serve`` sets it
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


def _send_head(port: int, head: bytes, body: bytes = b"") -> tuple[bytes, int]:
    """Send ``head`` (and ``body``) as fast as the socket takes it; the answer's status line
    and how many bytes the server took before it closed (or all of them)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sent = 0
        try:
            for start in range(0, len(head), 64 * 1024):
                sent += sock.send(head[start : start + 64 * 1024])
            sock.sendall(body)
            sent += len(body)
        except OSError:
            pass  # closed by the server: what matters is what it answered
        answer = b""
        try:
            while chunk := sock.recv(4096):
                answer += chunk
        except OSError:
            pass
        return answer.split(b"\r\n", 1)[0], sent


@pytest.mark.parametrize("where", ["header", "many-headers"])
def test_headers_past_the_cap_are_refused_not_read(port: int, where: str) -> None:
    if where == "header":
        pad = b"X-Pad: " + b"a" * (64 * 1024 * 1024) + b"\r\n"
    else:
        pad = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"b" * 100) for i in range(600_000))
    status, sent = _send_head(port, b"GET / HTTP/1.1\r\nHost: x\r\n" + pad + b"\r\n")
    assert status.split(b" ")[1:2] in ([b"431"], [b"400"]), status  # httptools 431, h11 400
    assert sent < 16 * 1024 * 1024, "the server went on reading past the cap"


def test_headers_under_the_cap_with_a_body_in_the_same_read_are_answered(port: int) -> None:
    head = (
        b"POST / HTTP/1.1\r\nHost: x\r\n"
        + b"X-Pad: "
        + b"a" * (MAX_HEADER_BYTES // 2)
        + b"\r\n"
        + b"Content-Length: 200000\r\n\r\n"
    )
    status, _ = _send_head(port, head, b"z" * 200_000)
    assert status.startswith(b"HTTP/1.1 200"), status
    # And kept-alive requests one after another are each counted on their own.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        for _ in range(5):
            pad = b"X-Pad: " + b"a" * (MAX_HEADER_BYTES // 2) + b"\r\n"
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n" + pad + b"\r\n")
            assert sock.recv(1024).startswith(b"HTTP/1.1 200")
