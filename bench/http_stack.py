"""Zhiku as a user runs it, for the ingestion benchmark: ``zhiku serve`` (and, for the Celery
deployment, one ``zhiku worker``) as subprocesses on a fresh data folder, an API key for a
measured tenant and one for a warm-up tenant, and a sampler of their process trees.

Only the command line and HTTP are used: nothing here imports the product's modules, so the
benchmark measures exactly what a deployment does.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from bench.common import REPO_ROOT

PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_URL = "redis://127.0.0.1:6379"
SECRET = "zhiku-bench-secret"
WARMUP_TENANT = "bench-warmup"


def zhiku_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without any inherited ZHIKU_* setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZHIKU_")}
    env.update(extra)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Stack:
    """One running deployment: its URL, keys, processes and folders."""

    name: str
    data_dir: Path
    env: dict[str, str]
    url: str = ""
    key: str = ""
    warmup_key: str = ""
    database: str = ""
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    started_s: float = 0.0
    # The checkout the processes run from (bench.load_search runs an older one beside it).
    root: Path = REPO_ROOT

    def pids(self) -> dict[str, int]:
        return {name: proc.pid for name, proc in self.procs.items()}

    def log_tail(self, lines: int = 25, only: str = "") -> str:
        out = []
        for name in [only] if only else self.procs:
            path = self.data_dir / f"{name}.log"
            if path.is_file():
                tail = path.read_text(errors="replace").splitlines()[-lines:]
                out.append(f"--- {path} ---\n" + "\n".join(tail))
        return "\n".join(out)

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name}: {name} exited with {proc.returncode}\n{self.log_tail(only=name)}"
                )


def start_stack(
    name: str,
    redis_db: int,
    keep: bool,
    worker_concurrency: int = 1,
    parse_workers: int = 0,
    settings_env: dict[str, str] | None = None,
    root: Path = REPO_ROOT,
    small_file_workers: int = 0,
) -> Stack:
    """``embedded``: serve alone (SQLite, embedded Qdrant, in-process ingestion).
    ``celery``: serve on PostgreSQL + Redis, and one worker for both queues with
    ``worker_concurrency`` processes; with ``parse_workers`` > 0, that worker takes the embed
    queue only and a second one parses with that many processes; with
    ``small_file_workers`` > 0, a third serves the small-file queue alone with that many
    (compose.yaml's worker-parse-small). ``settings_env``: more ZHIKU_* settings for every
    process of the deployment."""
    started = time.monotonic()
    data_dir = Path(tempfile.mkdtemp(prefix=f"zhiku-bench-{name}-"))
    extra = {
        "ZHIKU_DATA_DIR": str(data_dir),
        "ZHIKU_ENVIRONMENT": "test",
        "ZHIKU_SECRET_KEY": SECRET,
        "ZHIKU_LLM__LOCAL__ENABLED": "false",  # ingestion only: no answer model
    }
    stack = Stack(name, data_dir, {}, root=root)
    if name == "celery":
        stack.database = f"zhiku_bench_{os.getpid()}_{int(time.time())}"
        _create_database(stack.database)
        _flush_redis(redis_db)
        extra["ZHIKU_REDIS_URL"] = f"{REDIS_URL}/{redis_db}"
        extra["ZHIKU_DATABASE__URL"] = (
            f"postgresql+psycopg://postgres@127.0.0.1:5432/{stack.database}"
        )
    elif name != "embedded":
        raise ValueError(f"unknown deployment {name!r}")
    stack.env = zhiku_env({**extra, **(settings_env or {})})
    try:
        # A second tenant for the warm-up, so no measured file finds an indexed "twin".
        _cli(stack, "admin", "create-tenant", WARMUP_TENANT)
        _cli(stack, "admin", "create-user", WARMUP_TENANT, "bench", "--admin")
        stack.warmup_key = _cli(stack, "admin", "create-key", WARMUP_TENANT, "bench")
        port = free_port()
        stack.url = f"http://127.0.0.1:{port}"
        stack.procs["server"] = _spawn(stack, "server", ["serve", "--port", str(port)])
        _wait_live(stack)
        # The first start bootstraps tenant "default", its admin and a key: the measured one.
        stack.key = (data_dir / "admin-api-key").read_text().strip()
        if name == "celery":
            queues = "embed" if parse_workers > 0 else "parse,embed"
            stack.procs["worker"] = _spawn(
                stack,
                "worker",
                ["worker", "--queues", queues, "--concurrency", str(worker_concurrency)],
            )
            if parse_workers > 0:
                stack.procs["parser"] = _spawn(
                    stack,
                    "parser",
                    ["worker", "--queues", "parse", "--concurrency", str(parse_workers)],
                )
            if small_file_workers > 0:
                stack.procs["small-files"] = _spawn(
                    stack,
                    "small-files",
                    ["worker", "--queues", "parse-small", "--concurrency", str(small_file_workers)],
                )
    except BaseException:
        stop_stack(stack, keep)
        raise
    stack.started_s = round(time.monotonic() - started, 1)
    return stack


def stop_stack(stack: Stack, keep: bool = False) -> None:
    for proc in reversed(list(stack.procs.values())):
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in stack.procs.values():
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
    if stack.database and not keep:
        _drop_database(stack.database)
    if not keep:
        shutil.rmtree(stack.data_dir, ignore_errors=True)


def _spawn(stack: Stack, name: str, args: list[str]) -> subprocess.Popen[bytes]:
    with (stack.data_dir / f"{name}.log").open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "zhiku.cli", *args],
            cwd=stack.root,
            env=stack.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: stopped with its children
        )


def _cli(stack: Stack, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "zhiku.cli", *args],
        cwd=stack.root,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"zhiku {' '.join(args)} failed: {done.stderr[-2000:]}")
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


def _wait_live(stack: Stack, timeout_s: float = 300.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stack.check_alive()
        try:
            if httpx.get(stack.url + "/health/live", timeout=2).status_code < 300:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{stack.name}: no answer at {stack.url} in {timeout_s:.0f} s")


def _create_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def _drop_database(name: str) -> None:
    import psycopg

    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    except psycopg.Error as exc:
        print(f"could not drop database {name}: {exc}", file=sys.stderr)


def _flush_redis(db: int) -> None:
    """The benchmark's own Redis database: no message left by an earlier run may be replayed."""
    import redis

    client = redis.Redis.from_url(f"{REDIS_URL}/{db}")
    client.flushdb()
    client.close()


@dataclass
class TreeUse:
    peak_rss_mib: float = 0.0
    cpu_s: float = 0.0
    processes: int = 0


class TreeSampler:
    """Peak RSS and CPU seconds of named process trees (a root and all its descendants),
    sampled every ``interval_s``; plus this process's own CPU (the uploading clients)."""

    def __init__(self, roots: dict[str, int], interval_s: float = 0.25) -> None:
        self._roots = {name: psutil.Process(pid) for name, pid in roots.items()}
        self._interval = interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-tree", daemon=True)
        self._cpu_first: dict[int, float] = {}
        self._cpu_last: dict[int, float] = {}
        self._owner: dict[int, str] = {}
        self._me = psutil.Process()
        self._my_cpu = 0.0
        self._loads: list[float] = []
        self.use = {name: TreeUse() for name in roots}
        self.client_cpu_s = 0.0
        self.load_mean = 0.0
        self.load_max = 0.0

    def __enter__(self) -> TreeSampler:
        for name, root in self._roots.items():
            for proc in self._tree(root):
                self._cpu_first[proc.pid] = _cpu(proc)
                self._owner[proc.pid] = name
        self._my_cpu = _cpu(self._me)
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        for pid, last in self._cpu_last.items():
            use = self.use[self._owner[pid]]
            use.cpu_s += last - self._cpu_first.get(pid, 0.0)  # born during the phase: from 0
        for use in self.use.values():
            use.cpu_s = round(use.cpu_s, 2)
        self.client_cpu_s = round(_cpu(self._me) - self._my_cpu, 2)
        self.load_mean = round(sum(self._loads) / len(self._loads), 2)
        self.load_max = round(max(self._loads), 2)

    @staticmethod
    def _tree(root: psutil.Process) -> list[psutil.Process]:
        try:
            return [root, *root.children(recursive=True)]
        except psutil.Error:
            return []

    def _sample(self) -> None:
        for name, root in self._roots.items():
            rss = 0
            procs = self._tree(root)
            for proc in procs:
                try:
                    rss += proc.memory_info().rss
                    self._cpu_last[proc.pid] = _cpu(proc)
                    self._owner.setdefault(proc.pid, name)
                except psutil.Error:  # exited between listing and reading
                    continue
            use = self.use[name]
            use.peak_rss_mib = round(max(use.peak_rss_mib, rss / 2**20), 1)
            use.processes = max(use.processes, len(procs))
        self._loads.append(os.getloadavg()[0])

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)
