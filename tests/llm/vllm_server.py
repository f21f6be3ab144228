"""A real vLLM OpenAI-compatible server (CPU build) in a child process, for the tests.

``scripts/vllm_env.sh`` builds its virtual environment and model folder once and names them
in ``ZHIKU_VLLM_PYTHON`` / ``ZHIKU_VLLM_MODEL`` / ``ZHIKU_VLLM_SERVED_NAME`` (``scripts/test.sh``
exports them). Startup takes ~1 minute on 2 cores, most of it imports.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx
import pytest

from core.settings_llm import LlmBackendSettings
from llm.local_server import signal_group
from tests.live import free_port

LOG_TAIL_CHARS = 4000
ENV_HINT = 'run `eval "$(bash scripts/vllm_env.sh)"` first (scripts/test.sh does)'


class VllmServerError(RuntimeError):
    """The server did not come up; the message carries its log tail."""


@dataclass(frozen=True)
class VllmEnv:
    python: Path
    model_dir: Path
    served_name: str


def vllm_env_or_skip() -> VllmEnv:
    """The environment ``scripts/vllm_env.sh`` prepared. Skips where it was not prepared
    (a plain ``pytest`` in a user's clone); under CI (``CI=true``) that is an error."""
    python = os.environ.get("ZHIKU_VLLM_PYTHON", "")
    model = os.environ.get("ZHIKU_VLLM_MODEL", "")
    name = os.environ.get("ZHIKU_VLLM_SERVED_NAME", "") or "qwen2.5-coder-0.5b-instruct"
    problem = None
    if not python or not model:
        problem = f"ZHIKU_VLLM_PYTHON / ZHIKU_VLLM_MODEL not set: {ENV_HINT}"
    elif not Path(python).is_file():
        problem = f"ZHIKU_VLLM_PYTHON={python} does not exist: {ENV_HINT}"
    elif not (Path(model) / "config.json").is_file():
        problem = f"ZHIKU_VLLM_MODEL={model} holds no model: {ENV_HINT}"
    if problem:
        if os.environ.get("CI"):
            raise RuntimeError(f"vLLM environment missing in CI: {problem}")
        pytest.skip(problem)
    return VllmEnv(Path(python), Path(model), name)


class VllmServer:
    """``python -m vllm.entrypoints.openai.api_server`` on 127.0.0.1, in its own process group
    (the API server spawns an engine core and a worker: ``stop`` ends all three)."""

    def __init__(
        self,
        env: VllmEnv,
        log_path: Path,
        *,
        max_model_len: int = 4096,
        startup_timeout_s: float = 420.0,
    ) -> None:
        self.env = env
        self.model = env.served_name
        self.log_path = log_path
        self.max_model_len = max_model_len
        self.startup_timeout_s = startup_timeout_s
        self.port = free_port()
        self.startup_s: float | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def backend_settings(self, name: str = "vllm") -> LlmBackendSettings:
        # ~10 tokens/s on one CPU core: a generous read timeout, no retries to hide a failure.
        return LlmBackendSettings(
            name=name, base_url=self.base_url, model=self.model, read_timeout_s=180.0, max_retries=0
        )

    def command(self) -> list[str]:
        return [
            str(self.env.python), "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(self.env.model_dir),
            "--served-model-name", self.model,
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--max-model-len", str(self.max_model_len),
            # torch.compile would add ~75-120 s to every start (its cache fails to reload in
            # this build) for ~10% faster decoding: not worth it for tests.
            "--enforce-eager",
        ]  # fmt: skip

    def start(self) -> Self:
        env = dict(os.environ)
        env.update(
            HF_HUB_OFFLINE="1",  # everything is local; never try a hub
            VLLM_NO_USAGE_STATS="1",
            DO_NOT_TRACK="1",
            VLLM_HOST_IP="127.0.0.1",  # its internal sockets stay on loopback
            # KV cache in GiB (the default takes a share of all RAM): 1 GiB holds ~87k tokens.
            VLLM_CPU_KVCACHE_SPACE="1",
            PYTHONUNBUFFERED="1",
        )
        started = time.monotonic()
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        try:
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - started
        return self

    def _wait_until_ready(self) -> None:
        assert self._process is not None
        deadline = time.monotonic() + self.startup_timeout_s
        while True:
            code = self._process.poll()
            if code is not None:
                raise VllmServerError(
                    f"vLLM exited with code {code} while starting; log tail:\n{self.log_tail()}"
                )
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.base_url}/models", timeout=2.0).status_code == 200:
                    return
            if time.monotonic() > deadline:
                raise VllmServerError(
                    f"vLLM not ready after {self.startup_timeout_s:.0f} s; log tail:\n"
                    f"{self.log_tail()}"
                )
            time.sleep(0.5)

    def log_tail(self) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_bytes()[-LOG_TAIL_CHARS:].decode("utf-8", "replace")

    def stop(self, timeout_s: float = 30.0) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        signal_group(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            signal_group(process.pid, signal.SIGKILL)
            process.wait()
        # The engine and worker share the group: make sure none outlives the API server.
        signal_group(process.pid, signal.SIGKILL)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
