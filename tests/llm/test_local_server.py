"""Starting and stopping the embedded llama.cpp server; failure mid-stream."""

from __future__ import annotations

import asyncio
import os
import socket
import time
from pathlib import Path

import httpx
import pytest

from core.settings import Settings
from core.settings_llm import LlmBackendSettings, LlmSettings, LocalLlmSettings
from llm.client import StreamInterrupted, TextDelta
from llm.local_server import LlamaCppServer, LocalServerError
from llm.routing import LlmRouter
from llm.runtime import AnswerModels


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.slow
def test_a_started_server_lists_its_model_and_stops_cleanly(llama_server: LlamaCppServer) -> None:
    # A second server from the same file: the session's one must stay up for other tests.
    server = LlamaCppServer(llama_server.model_path, alias="second", n_ctx=512).start()
    pid, url = server.pid, server.base_url
    assert pid is not None
    assert url.startswith("http://127.0.0.1:")
    models = httpx.get(f"{url}/models", timeout=5).json()
    assert [m["id"] for m in models["data"]] == ["second"]
    log = server.log_path
    assert log is not None and log.exists()
    server.stop()
    assert _gone(pid)
    assert not log.exists()  # a temporary log of its own is removed
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/models", timeout=5)


def test_a_file_that_is_no_model_fails_with_the_servers_log(tmp_path: Path) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 1024)
    server = LlamaCppServer(broken, startup_timeout_s=60)
    with pytest.raises(LocalServerError, match="exited with code") as failure:
        server.start()
    assert "log tail" in str(failure.value)
    assert server.pid is None  # stopped and forgotten


def test_a_missing_file_is_reported_before_starting(tmp_path: Path) -> None:
    with pytest.raises(LocalServerError, match="not found"):
        LlamaCppServer(tmp_path / "absent.gguf").start()


@pytest.mark.slow
def test_a_backend_dying_mid_stream_raises_a_clear_error(llama_server: LlamaCppServer) -> None:
    server = LlamaCppServer(llama_server.model_path, alias="doomed", n_ctx=1024).start()
    backend: LlmBackendSettings = server.backend_settings(name="doomed")
    story = [{"role": "user", "content": "Write a long story about a lighthouse keeper."}]

    async def run() -> list[object]:
        router = LlmRouter.from_settings(LlmSettings(backends=[backend]))
        seen: list[object] = []
        try:
            async for event in router.stream("answer", story, max_tokens=400):
                seen.append(event)
                if isinstance(event, TextDelta) and len(seen) == 3:
                    server.stop(timeout_s=0)  # SIGTERM, then SIGKILL at once
        finally:
            await router.aclose()
        return seen

    try:
        with pytest.raises(StreamInterrupted, match=r"'doomed' failed after \d+ characters"):
            asyncio.run(run())
    finally:
        server.stop()


@pytest.mark.slow
def test_settings_pick_a_packaged_model_by_name(llama_server: LlamaCppServer) -> None:
    settings = LocalLlmSettings(model=llama_server.model, n_ctx=256)
    server = LlamaCppServer.from_settings(settings, llama_server.model_path.parent)
    assert server.model_path == llama_server.model_path
    assert server.model == llama_server.model
    command = server.command(1234)
    assert command[command.index("--n_ctx") + 1] == "256"
    assert command[command.index("--n_threads") + 1] == "1"


@pytest.mark.slow
def test_the_embedded_models_answers_stop_at_its_max_tokens(
    llama_server: LlamaCppServer, tmp_path: Path
) -> None:
    """``ZHIKU_LLM__LOCAL__MAX_TOKENS``: the embedded model's backend takes it as its ceiling,
    so a long answer (Simplified or Traditional Chinese, or English) stops there with
    finish reason "length"."""
    local = {"model": str(llama_server.model_path), "n_ctx": 512, "warm_up": False}
    settings = Settings(
        environment="test", data_dir=tmp_path, llm={"local": {**local, "max_tokens": 16}}
    )
    models = AnswerModels(settings)
    models.start()
    deadline = time.monotonic() + 180
    while models.status == "starting" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert models.status == "ok", models.status
    # What the answer admission counts: one answer at a time, in this process's own name
    # (each API process starts its own child; through Redis they must not share one count).
    capacity = models.answer_capacity()
    assert capacity is not None and capacity.backend == "local" and capacity.slots == 1
    assert capacity.key == f"local@{socket.gethostname()}:{os.getpid()}"
    prompts = (
        "从一数到一百，用中文数字，逗号分隔。",
        "從一數到一百，用中文數字，逗號分隔。",
        "Count from one to one hundred in words.",
    )

    async def ask_all() -> list[tuple[str | None, int | None]]:
        router = models.router()
        answers = []
        try:
            for prompt in prompts:
                done = await router.complete("answer", [{"role": "user", "content": prompt}])
                answers.append((done.finish_reason, done.completion_tokens))
        finally:
            await models.aclose()
        return answers

    assert asyncio.run(ask_all()) == [("length", 16)] * len(prompts)
