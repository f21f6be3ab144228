"""LLM series against a real llama.cpp server (and a port nobody listens on): tokens by kind,
time to first token, call durations, and errors by backend and kind."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from core.settings_llm import LlmBackendSettings
from llm.client import BackendUnavailable, LlmClient, LlmRequestRejected, StreamEnd, TextDelta
from llm.local_server import LlamaCppServer
from tests.live import free_port


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_tokens_and_time_to_first_token(llama_server: LlamaCppServer) -> None:
    backend = "obs-llama"
    client = LlmClient(llama_server.backend_settings(name=backend))
    before = {
        "prompt": _value("zhiku_llm_tokens_total", backend=backend, kind="prompt"),
        "completion": _value("zhiku_llm_tokens_total", backend=backend, kind="completion"),
        "ttft": _value("zhiku_llm_time_to_first_token_seconds_count", backend=backend),
    }

    async def run() -> str:
        done = await client.complete(
            [{"role": "user", "content": "用一个词回答：龙井是什么茶？"}], max_tokens=8
        )
        assert done.prompt_tokens and done.completion_tokens
        text = ""
        async for event in client.stream(
            [{"role": "user", "content": "Say hello in one word."}], max_tokens=6
        ):
            if isinstance(event, TextDelta):
                text += event.text
            assert not isinstance(event, StreamEnd) or event.finish_reason
        await client.aclose()
        return text

    assert asyncio.run(run())
    prompt = _value("zhiku_llm_tokens_total", backend=backend, kind="prompt")
    completion = _value("zhiku_llm_tokens_total", backend=backend, kind="completion")
    assert prompt - before["prompt"] >= 5  # the Chinese question, as the backend counted it
    assert 1 <= completion - before["completion"] <= 8 + 6
    assert _value("zhiku_llm_time_to_first_token_seconds_count", backend=backend) == (
        before["ttft"] + 1
    )
    for call in ("complete", "stream"):
        assert _value("zhiku_llm_request_duration_seconds_count", backend=backend, call=call) >= 1


def test_rejected_request_counts_as_rejected(llama_server: LlamaCppServer) -> None:
    """A prompt over the server's context size: llama.cpp answers 400, never retried."""
    backend = "obs-llama-small"
    client = LlmClient(llama_server.backend_settings(name=backend))
    before = _value("zhiku_llm_errors_total", backend=backend, kind="rejected")
    too_long = "龙井茶 green tea " * 3000

    async def run() -> None:
        try:
            with pytest.raises(LlmRequestRejected):
                await client.complete([{"role": "user", "content": too_long}], max_tokens=4)
        finally:
            await client.aclose()

    asyncio.run(run())
    assert _value("zhiku_llm_errors_total", backend=backend, kind="rejected") == before + 1
    assert _value("zhiku_llm_errors_total", backend=backend, kind="retried") == 0


def test_backend_down_counts_retries_and_unavailable() -> None:
    backend = "obs-down"
    settings = LlmBackendSettings(
        name=backend,
        base_url=f"http://127.0.0.1:{free_port()}/v1",
        model="none",
        max_retries=2,
        retry_backoff_s=0.01,
        connect_timeout_s=1,
    )
    client = LlmClient(settings)

    async def run() -> None:
        try:
            with pytest.raises(BackendUnavailable):
                await client.complete([{"role": "user", "content": "你好"}])
            with pytest.raises(BackendUnavailable):
                async for _ in client.stream([{"role": "user", "content": "你好"}]):
                    pass
        finally:
            await client.aclose()

    asyncio.run(run())
    assert _value("zhiku_llm_errors_total", backend=backend, kind="unavailable") == 2
    assert _value("zhiku_llm_errors_total", backend=backend, kind="retried") == 4
    assert _value("zhiku_llm_time_to_first_token_seconds_count", backend=backend) == 0
