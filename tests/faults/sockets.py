"""Network faults on a loopback port, for the LLM backend tests: not a model server, only the
ways a broken one misbehaves on the wire. One :class:`FaultyBackend` keeps its port while a
test switches what it does, so one running Zhiku (configured once) meets every fault:

- ``REFUSE``: nothing listens (a stopped server): connections are refused at once;
- ``STALL``: the request is read and never answered (a hung process, a black-holing proxy);
- bytes: that raw reply (status line, headers and all), then the connection closes: HTML
  where JSON was due, an event stream cut off mid-event, an event that is not JSON.
"""

from __future__ import annotations

import socket
import threading

from tests.loopback import free_port, listen

REFUSE = "refuse"
STALL = "stall"


def _read_request(conn: socket.socket) -> bool:
    """Read one HTTP request (headers and a ``Content-Length`` body); False if none came."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return False
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return False
        body += chunk
    return True


class FaultyBackend:
    """``base_url`` stays the same whatever the mode; ``requests`` counts requests read."""

    def __init__(self, mode: str | bytes = REFUSE) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self.requests = 0
        self._mode: str | bytes = REFUSE
        self._listener: socket.socket | None = None
        self._held: list[socket.socket] = []
        self._released = threading.Event()  # set: stalled connections may close
        self._lock = threading.Lock()
        self.set(mode)

    def set(self, mode: str | bytes) -> None:
        with self._lock:
            self._release_stalled()
            if mode == REFUSE:
                if self._listener is not None:
                    self._listener.close()
                    self._listener = None
            elif self._listener is None:
                self._listener = listen(self.port, self._serve_apart)
            self._mode = mode

    def close(self) -> None:
        self.set(REFUSE)

    def __enter__(self) -> FaultyBackend:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _release_stalled(self) -> None:
        self._released.set()
        for conn in self._held:
            conn.close()
        self._held = []
        self._released = threading.Event()

    def _serve_apart(self, conn: socket.socket) -> None:
        threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with self._lock:
            mode, released = self._mode, self._released
            self._held.append(conn)
        try:
            if not _read_request(conn):
                return
            self.requests += 1
            if mode == STALL:
                released.wait()
                return
            assert isinstance(mode, bytes)
            conn.sendall(mode)
            conn.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        finally:
            conn.close()


def http_reply(content_type: str, body: bytes, length: bool = True) -> bytes:
    """A 200 reply; without ``length`` the body ends where the connection closes."""
    head = f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nConnection: close\r\n"
    if length:
        head += f"Content-Length: {len(body)}\r\n"
    return head.encode() + b"\r\n" + body


# The garbage a broken or mis-addressed backend sends, by name (tests are parametrized on it).
NOT_JSON = http_reply("application/json", b"<html><body>502 Bad Gateway</body></html>")
HTML_PAGE = http_reply("text/html", "<html><body>维护中 Maintenance</body></html>".encode())
EVENT_NOT_JSON = http_reply("text/event-stream", b"data: {not json at all\n\n", length=False)
_CHUNK = b'data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":'
# Part of an answer, then the connection drops mid-event (no finish reason, no [DONE]).
TRUNCATED_EVENTS = http_reply(
    "text/event-stream",
    _CHUNK + b'[{"index":0,"delta":{"role":"assistant","content":"Etna erupted in"}}]}\n\n'
    + _CHUNK + b'[{"index":0,"delta":{"cont',
    length=False,
)  # fmt: skip
