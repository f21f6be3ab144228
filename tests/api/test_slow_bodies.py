"""A request body must keep arriving, over real HTTP: one trickled a byte at a time is cut off
with a 408 in the caller's language once it falls below the minimum rate after the grace
(it held a connection and a worker for as long as the client liked), and the connection is
closed. A body sent at once, or after a pause within the grace, is read as before."""

from __future__ import annotations

import json
import socket
import time

import pytest

from tests.api.world import World
from tests.live import ThreadServer
from tests.support import make_settings

GRACE_S = 1.0
RATE = 100  # bytes a second


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(
        tmp_path_factory.mktemp("slow-bodies"),
        database={"url": pg_url},
        limits={"body_grace_s": GRACE_S, "min_body_bytes_per_s": RATE},
    )
    with ThreadServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def key(server: ThreadServer) -> str:
    return World(server).keys["ann"]


def _send_slowly(
    server: ThreadServer, key: str, body: bytes, *, pause_s: float, step: int, extra: str = ""
) -> tuple[bytes, float]:
    """POST /v1/search sending ``step`` bytes every ``pause_s``; (the answer, seconds taken)."""
    head = (
        f"POST /v1/search HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    ).encode()
    began = time.monotonic()
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(head)
        sent = 0
        sock.setblocking(False)
        answer = b""
        while sent < len(body):
            try:
                answer += sock.recv(65536)
                break  # answered before the body was whole
            except BlockingIOError:
                pass
            sock.sendall(body[sent : sent + step])
            sent += step
            time.sleep(pause_s)
        sock.setblocking(True)
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break  # the server closed the connection
            answer += chunk
            if b"\r\n\r\n" in answer and not answer.startswith(b"HTTP/1.1 408"):
                break  # another answer: kept alive
    return answer, time.monotonic() - began


def _status_and_body(answer: bytes) -> tuple[int, dict]:
    head, _, rest = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(rest) if rest else {}


@pytest.mark.parametrize(
    ("extra", "detail"),
    [
        ("", "the request body arrived too slowly (under 100 bytes a second): send it"),
        ("Accept-Language: zh-CN\r\n", "请求体传输过慢（每秒不足 100 字节）"),
    ],
)
def test_a_trickled_body_is_cut_off_with_408(
    server: ThreadServer, key: str, extra: str, detail: str
) -> None:
    body = json.dumps({"query": "预算" * 200}).encode()
    answer, took = _send_slowly(server, key, body, pause_s=0.3, step=1, extra=extra)
    status, payload = _status_and_body(answer)
    assert status == 408, answer[:300]
    assert payload["detail"].startswith(detail)
    assert b"connection: close" in answer.lower()
    assert took < GRACE_S + 5


def test_a_body_after_a_pause_within_the_grace_is_read(server: ThreadServer, key: str) -> None:
    body = json.dumps({"query": "预算", "limit": 1}).encode()
    answer, _ = _send_slowly(server, key, body, pause_s=GRACE_S / 2, step=len(body) // 2 + 1)
    status, _ = _status_and_body(answer)
    assert status == 200, answer[:300]
