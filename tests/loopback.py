"""Loopback sockets for the stand-in servers of the tests (a faulty model backend, a TCP relay
in front of S3): a free port, and a listener that can close and open again on the same one."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listen(port: int, on_connection: Callable[[socket.socket], None]) -> socket.socket:
    """A listener on ``127.0.0.1:port`` (free to bind again as soon as it closes), accepting
    on a daemon thread that hands each connection to ``on_connection``, until the listener is
    closed."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(64)
    threading.Thread(target=_accept, args=(listener, on_connection), daemon=True).start()
    return listener


def _accept(listener: socket.socket, on_connection: Callable[[socket.socket], None]) -> None:
    while True:
        try:
            conn, _ = listener.accept()
        except OSError:  # closed
            return
        on_connection(conn)
