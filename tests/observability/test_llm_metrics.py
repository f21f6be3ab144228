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


def test_a_configured_backend_reports_zero_errors_before_any_call() -> None:
    """Scraped before its first call, a backend's error counters read 0 (their absence read
    as "no data" and hid the first error from ``rate()``); its token counters wait for a
    count. 中文 and English backend names alike."""
    for backend in ("obs-idle", "本地模型"):
        LlmClient(LlmBackendSettings(name=backend, base_url="http://127.0.0.1:9/v1", model="m"))
        for kind in ("unavailable", "rejected", "interrupted", "retried", "other"):
            labels = {"backend": backend, "kind": kind}
            assert REGISTRY.get_sample_value("zhiku_llm_errors_total", labels) == 0.0, kind
        for kind in ("prompt", "completion"):
            labels = {"backend": backend, "kind": kind}
            assert REGISTRY.get_sample_value("zhiku_llm_tokens_total", labels) is None, kind


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


def test_a_stream_without_a_usage_chunk_still_counts_its_completion_tokens(
    llama_server: LlamaCppServer,
) -> None:
    """llama-cpp-python's server sends no usage chunk when streaming: every streamed answer
    (all of /v1/chat on the embedded default) left the token series empty. Its content
    chunks, one token each, are counted instead; Chinese and English answers alike."""
    backend = "obs-llama-stream"
    client = LlmClient(llama_server.backend_settings(name=backend))

    async def ask(question: str) -> tuple[int, int | None, float]:
        before = _value("zhiku_llm_tokens_total", backend=backend, kind="completion")
        chunks, end = 0, None
        async for event in client.stream([{"role": "user", "content": question}], max_tokens=6):
            chunks += isinstance(event, TextDelta)
            end = event if isinstance(event, StreamEnd) else end
        assert end is not None
        after = _value("zhiku_llm_tokens_total", backend=backend, kind="completion")
        return chunks, end.completion_tokens, after - before

    async def run() -> list[tuple[int, int | None, float]]:
        questions = ("用一句话介绍西湖。", "用一句話介紹台北。", "Describe Paris in one sentence.")
        try:
            return [await ask(question) for question in questions]
        finally:
            await client.aclose()

    for chunks, counted, added in asyncio.run(run()):
        assert counted is not None and 1 <= chunks <= counted <= 6, (chunks, counted)
        assert added == counted


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
