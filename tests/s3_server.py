"""A real S3-compatible server for tests: moto's server (PyPI ``moto[s3]`` with Flask), run as
its own process on loopback and reached over HTTP by boto3, like MinIO would be.
``stop()``/``start()`` take it away and bring it back on the same port (its objects are in
memory, so they go with it) for the store-down tests."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time
import uuid

import httpx

from core.settings_blobs import BlobSettings
from tests.loopback import free_port, listen


class S3Server:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> S3Server:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"moto server exited with {self._proc.returncode}")
            try:
                if httpx.get(f"{self.url}/moto-api/", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("moto server did not answer within 30 s")

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            self._proc.wait(timeout=10)
            self._proc = None

    def settings(
        self, bucket: str | None = None, url: str | None = None, **extra: object
    ) -> BlobSettings:
        """Settings for a fresh bucket (created on first open) on this server (or through
        ``url``, a relay to it)."""
        return BlobSettings(
            backend="s3",
            bucket=bucket or f"zk-{uuid.uuid4().hex[:12]}",
            endpoint_url=url or self.url,
            access_key_id="test",
            secret_access_key="test",
            create_bucket=True,
            connect_timeout_s=1,
            read_timeout_s=5,
            max_attempts=1,
            **extra,  # type: ignore[arg-type]
        )

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class TcpProxy:
    """A loopback TCP relay in front of a server: ``down()`` refuses new connections and cuts
    the open ones (a network outage, the server's data kept), ``up()`` restores it on the
    same port."""

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._listener: socket.socket | None = None
        self._open: list[socket.socket] = []
        self._lock = threading.Lock()

    def up(self) -> TcpProxy:
        self._listener = listen(self.port, self._relay)
        return self

    def down(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            sockets, self._open = self._open, []
        for sock in [listener, *sockets]:
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def _relay(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(("127.0.0.1", self.target))
        except OSError:
            client.close()
            return
        with self._lock:
            self._open += [client, server]
        for src, dst in ((client, server), (server, client)):
            threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
