"""Run the real app over real HTTP: uvicorn on a loopback port, in a thread or a process."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn

from core.settings import Settings
from tests.support import TEST_EMBEDDING_MODEL
from zhiku.app import create_app
from zhiku.container import Container


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(
    url: str,
    timeout_s: float = 120.0,
    proc: subprocess.Popen | None = None,
    ok_only: bool = False,
) -> None:
    """Wait until ``url`` answers (any status below 500; only 2xx with ``ok_only``)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            status = httpx.get(url, timeout=2).status_code
            if status < (300 if ok_only else 500):
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer within {timeout_s} s")


class ThreadServer:
    """uvicorn serving ``create_app(settings)`` on a thread of the test process, so a test
    can speak HTTP to it and still look inside (its vector store, its database)."""

    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        wait_http(self.url + "/health/live")
        return self

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(60)

    @property
    def container(self) -> Container:
        """The running app's object graph (its database sessions, vector store…)."""
        return self.app.state.runtime


def zhiku_env(settings_env: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHIKU_")}
    env.update(settings_env)
    env.setdefault("ZHIKU_EMBEDDING__MODEL", TEST_EMBEDDING_MODEL)
    env["PYTHONUNBUFFERED"] = "1"
    return env


@contextmanager
def process(
    args: list[str], env: dict[str, str], log: Path, module: str = "zhiku.cli"
) -> Iterator[subprocess.Popen]:
    """A child in its own process group, so a test can SIGKILL it with all its children.
    ``module``: the CLI, or a test's wrapper around it (``tests.workers.held_worker``)."""
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


def kill_group(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)
