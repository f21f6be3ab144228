"""Private Redis and PostgreSQL servers that a fault test may stop and start at will.

The shared servers (6379, 5432) serve every engineer and every other test: they are never
stopped. These run on a free loopback port of their own, as children of the test process,
and keep that port across a restart, so a client configured once sees the very outage a
production restart would give it (connections refused, then the same address back).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
import redis

from tests.live import free_port


def _wait(ready, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not ready():
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not ready within {timeout_s} s")
        time.sleep(0.05)


class PrivateRedis:
    """``redis-server`` with no persistence: a restart loses every queued message, the worst
    a broker restart can do (the sweeper, not the broker, must bring the work back)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self._proc is None, "already running"
        self._proc = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.port), "--bind", "127.0.0.1"),
                *("--save", "", "--appendonly", "no", "--daemonize", "no"),
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port, socket_timeout=1)

        def up() -> bool:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        _wait(up, 30, "private redis")
        client.close()

    def stop(self, crash: bool = True) -> None:
        """``crash``: SIGKILL, as a lost machine (no goodbye to clients); else SIGTERM."""
        if self._proc is None:
            return
        self._proc.send_signal(signal.SIGCONT)  # a paused server cannot act on SIGTERM
        self._proc.send_signal(signal.SIGKILL if crash else signal.SIGTERM)
        self._proc.wait(30)
        self._proc = None

    def pause(self) -> None:
        """SIGSTOP: a stalled broker (a hung host, a lost route). Connections stay open and
        new ones are still accepted by the kernel, but nothing answers."""
        assert self._proc is not None, "not running"
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self._proc is not None, "not running"
        self._proc.send_signal(signal.SIGCONT)

    def restart(self, down_s: float = 0.0) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()

    def close(self) -> None:
        self.stop()


def _postgres_bin() -> Path:
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3])
    )
    if not versions:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql")
    return versions[-1].parent


class PrivatePostgres:
    """A throw-away cluster (``initdb`` into a temporary folder, trust on loopback), started
    and stopped with ``pg_ctl``. PostgreSQL refuses to run as root: as root, its commands run
    as the ``postgres`` system user, which owns the folder."""

    def __init__(self, database: str = "zhiku") -> None:
        self.port = free_port()
        self.database = database
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/{database}"
        self._bin = _postgres_bin()
        # Not under pytest's tmp_path: its folders are private to root (0700).
        self._root = Path(tempfile.mkdtemp(prefix="zhiku-faults-pg-"))
        self._data = self._root / "data"
        self._running = False
        if os.geteuid() == 0:
            shutil.chown(self._root, "postgres", "postgres")
        self._as_owner(
            "initdb", "-D", str(self._data), "-A", "trust", "-U", "postgres"
            , "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"
        )  # fmt: skip

    def _as_owner(self, tool: str, *args: str, timeout_s: float = 120) -> None:
        command = [str(self._bin / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr[-2000:]}")

    def start(self) -> None:
        # fsync off: this cluster's data need not survive the machine, only a server crash
        # (the WAL is written to the OS before a commit returns, and the OS outlives the
        # server). synchronous_commit stays on, as in production: off, an immediate stop
        # loses the last ~0.6 s of acknowledged commits (a key issued just before the
        # outage was gone after it: 401 on a request that should have been answered).
        options = (
            f"-p {self.port} -k {self._root} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c full_page_writes=off -c max_connections=200"
        )
        log = str(self._root / "server.log")
        self._as_owner("pg_ctl", "-D", str(self._data), "-l", log, "-o", options, "-w", "start")
        self._running = True
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)
            ).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{self.database}"')

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self, mode: str = "immediate") -> None:
        """``immediate``: every backend ends at once and the next start recovers from the
        log, as after a crash; ``fast``: clients are disconnected, then a clean shutdown."""
        if self._running:
            self._as_owner("pg_ctl", "-D", str(self._data), "-m", mode, "-w", "stop")
            self._running = False

    def restart(self, down_s: float = 0.0, mode: str = "immediate") -> None:
        self.stop(mode)
        time.sleep(down_s)
        self.start()

    def close(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self._root, ignore_errors=True)
