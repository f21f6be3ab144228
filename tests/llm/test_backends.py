"""The client and router against a real llama.cpp server (and real dead ports)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from core.errors import UpstreamUnavailable
from core.settings_llm import LlmBackendSettings, LlmSettings
from llm.client import (
    LlmRequestRejected,
    Message,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
)
from llm.local_server import LlamaCppServer
from llm.routing import LlmRouter
from tests.llm.backends import dead_backend

PING: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Reply with one word: pong"}]


def _router(*backends: LlmBackendSettings) -> LlmRouter:
    return LlmRouter.from_settings(LlmSettings(backends=list(backends)))


async def _collect(
    router: LlmRouter, messages: Sequence[Message], **kw: object
) -> list[StreamEvent]:
    try:
        return [event async for event in router.stream("answer", messages, **kw)]  # type: ignore[arg-type]
    finally:
        await router.aclose()


def _unique_prompt(words: int) -> list[Message]:
    """A prompt no cache has seen: llama.cpp reuses a repeated prefix instantly."""
    filler = " ".join(uuid.uuid4().hex[:6] for _ in range(words))
    return [{"role": "user", "content": f"{filler}\n\nHow many words were above? One number."}]


@pytest.mark.slow
def test_complete(local_backend: LlmBackendSettings) -> None:
    async def run() -> None:
        router = _router(local_backend)
        completion = await router.complete("answer", PING, max_tokens=8)
        await router.aclose()
        assert completion.text.strip()
        assert completion.backend == "local"
        assert completion.model == local_backend.model
        assert completion.finish_reason in ("stop", "length")
        assert completion.completion_tokens and completion.completion_tokens <= 8

    asyncio.run(run())


@pytest.mark.slow
def test_stream_tells_the_backend_then_text_then_the_end(local_backend: LlmBackendSettings) -> None:
    events = asyncio.run(_collect(_router(local_backend), PING, max_tokens=8))
    assert events[0] == StreamStart(backend="local", model=local_backend.model)
    assert isinstance(events[-1], StreamEnd)
    assert events[-1].finish_reason in ("stop", "length")
    deltas = events[1:-1]
    assert deltas and all(isinstance(e, TextDelta) for e in deltas)
    assert "".join(e.text for e in deltas if isinstance(e, TextDelta)).strip()


@pytest.mark.slow
def test_the_official_openai_client_talks_to_the_same_server(llama_server: LlamaCppServer) -> None:
    client = openai.OpenAI(base_url=llama_server.base_url, api_key="unused")
    assert llama_server.model in [m.id for m in client.models.list().data]
    reply = client.chat.completions.create(
        model=llama_server.model, messages=PING, max_tokens=8, temperature=0
    )
    assert reply.choices[0].message.content
    chunks = client.chat.completions.create(
        model=llama_server.model, messages=PING, max_tokens=8, temperature=0, stream=True
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text.strip()
    client.close()


@pytest.mark.slow
def test_a_backend_that_is_down_hands_over_to_the_next(local_backend: LlmBackendSettings) -> None:
    async def run() -> None:
        router = _router(dead_backend("primary"), local_backend)
        completion = await router.complete("answer", PING, max_tokens=4)
        assert completion.backend == "local"
        events = [e async for e in router.stream("answer", PING, max_tokens=4)]
        assert events[0] == StreamStart(backend="local", model=local_backend.model)
        await router.aclose()

    asyncio.run(run())


def test_all_backends_down_fails_fast_and_names_them() -> None:
    router = _router(dead_backend("vllm-a"), dead_backend("vllm-b"))
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailable) as failure:
        asyncio.run(router.complete("answer", PING))
    # Guards against a hang or a retry loop, not a speed: loaded CI machines vary.
    assert time.monotonic() - started < 20.0
    assert "vllm-a: connection failed" in str(failure.value)
    assert "vllm-b: connection failed" in str(failure.value)
    with pytest.raises(UpstreamUnavailable, match=r"vllm-a.*vllm-b"):
        asyncio.run(_collect(_router(dead_backend("vllm-a"), dead_backend("vllm-b")), PING))


@pytest.mark.slow
def test_a_slow_backend_times_out_and_the_next_answers(local_backend: LlmBackendSettings) -> None:
    # The same real server, but with less patience than its prompt processing needs.
    impatient = local_backend.model_copy(
        update={"name": "impatient", "read_timeout_s": 0.05, "max_retries": 0}
    )
    started = time.monotonic()
    with pytest.raises(UpstreamUnavailable, match="impatient: timed out"):
        asyncio.run(_router(impatient).complete("answer", _unique_prompt(8), max_tokens=2))
    assert time.monotonic() - started < 20.0  # a hang guard (the server would answer)
    with pytest.raises(UpstreamUnavailable, match="impatient: timed out"):
        asyncio.run(_collect(_router(impatient), _unique_prompt(8), max_tokens=2))

    async def fallback() -> None:
        router = _router(impatient, local_backend)
        completion = await router.complete("answer", _unique_prompt(8), max_tokens=2)
        assert completion.backend == "local"
        events = [e async for e in router.stream("answer", _unique_prompt(8), max_tokens=2)]
        assert events[0] == StreamStart(backend="local", model=local_backend.model)
        await router.aclose()

    asyncio.run(fallback())


@pytest.mark.slow
def test_a_prompt_over_the_context_is_rejected_without_retry_or_failover(
    local_backend: LlmBackendSettings,
) -> None:
    huge: list[Message] = [{"role": "user", "content": "word " * 6000}]  # n_ctx is 4096
    second = local_backend.model_copy(update={"name": "second"})
    started = time.monotonic()
    with pytest.raises(LlmRequestRejected, match="'local' rejected the request \\(400\\)"):
        asyncio.run(_router(local_backend, second).complete("answer", huge, max_tokens=4))
    assert time.monotonic() - started < 60.0  # a hang guard, not a speed
