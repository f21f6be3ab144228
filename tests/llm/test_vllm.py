"""Zhiku's LLM client and router against a real vLLM server (production's backend), on CPU.

The server is vLLM's own OpenAI-compatible entry point serving Qwen2.5-Coder-0.5B-Instruct,
converted from the packaged GGUF by ``scripts/vllm_env.sh``. It starts once per session
(~1 minute) and decodes ~10 tokens/s, so answers here are kept short.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence

import httpx
import openai
import pytest

from core.settings_llm import LlmSettings
from llm.client import (
    Completion,
    LlmRequestRejected,
    Message,
    StreamEnd,
    StreamEvent,
    StreamStart,
    TextDelta,
)
from llm.routing import LlmRouter
from tests.llm.vllm_server import VllmServer, vllm_env_or_skip

pytestmark = pytest.mark.slow

IM_START, IM_END = 151644, 151645  # Qwen2.5's chat-turn markers, one token each

QUESTION: list[Message] = [
    {"role": "system", "content": "Answer from the context only, in one short sentence."},
    {
        "role": "user",
        "content": "Context:\n[1] The Zhiku staging cluster runs in the Frankfurt data centre.\n"
        "[2] Staging backups are kept for 35 days, then deleted.\n\n"
        "Question: For how many days are staging backups kept?",
    },
]


# Module scope: started once for the tests below, and its ~4.7 GB given back before the rest
# of the suite runs (move it to a conftest with session scope if other modules need it).
@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VllmServer]:
    env = vllm_env_or_skip()
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    with VllmServer(env, log) as server:
        yield server


def _router(server: VllmServer) -> LlmRouter:
    return LlmRouter.from_settings(LlmSettings(backends=[server.backend_settings()]))


async def _complete(server: VllmServer, messages: Sequence[Message], **kw: object) -> Completion:
    router = _router(server)
    try:
        return await router.complete("answer", messages, **kw)  # type: ignore[arg-type]
    finally:
        await router.aclose()


async def _stream(
    server: VllmServer, messages: Sequence[Message], **kw: object
) -> list[StreamEvent]:
    router = _router(server)
    try:
        return [event async for event in router.stream("answer", messages, **kw)]  # type: ignore[arg-type]
    finally:
        await router.aclose()


def test_the_server_renders_the_qwen_chat_template(vllm_server: VllmServer) -> None:
    """The converted folder carries Qwen2.5's template: vLLM wraps each turn in
    <|im_start|>role ... <|im_end|> and opens the assistant's turn."""
    response = httpx.post(
        f"{vllm_server.url}/tokenize",
        json={"model": vllm_server.model, "messages": QUESTION, "add_generation_prompt": True},
        timeout=30,
    )
    response.raise_for_status()
    tokens = response.json()["tokens"]
    detok = httpx.post(
        f"{vllm_server.url}/detokenize",
        json={"model": vllm_server.model, "tokens": tokens},
        timeout=30,
    ).json()["prompt"]
    assert tokens.count(IM_START) == 3 and tokens.count(IM_END) == 2
    assert detok.startswith("<|im_start|>system\nAnswer from the context only")
    assert detok.endswith("kept?<|im_end|>\n<|im_start|>assistant\n")


def test_router_completion_answers_from_the_context(vllm_server: VllmServer) -> None:
    completion = asyncio.run(_complete(vllm_server, QUESTION, max_tokens=32))
    assert "35" in completion.text
    assert completion.backend == "vllm"
    assert completion.model == vllm_server.model
    assert completion.finish_reason == "stop"
    assert completion.prompt_tokens and completion.prompt_tokens > 40
    assert completion.completion_tokens and completion.completion_tokens <= 32


def test_router_stream_arrives_in_pieces(vllm_server: VllmServer) -> None:
    events = asyncio.run(_stream(vllm_server, QUESTION, max_tokens=32))
    assert events[0] == StreamStart(backend="vllm", model=vllm_server.model)
    assert events[-1] == StreamEnd(finish_reason="stop")
    deltas = events[1:-1]
    assert all(isinstance(e, TextDelta) for e in deltas)
    assert len(deltas) > 1, "vLLM streams token by token, not one block"
    assert "35" in "".join(e.text for e in deltas if isinstance(e, TextDelta))


def test_a_prompt_over_the_context_is_rejected_not_retried(vllm_server: VllmServer) -> None:
    """vLLM answers 400 before any work; the client reports it as the caller's problem."""
    too_long = " ".join(["word"] * (vllm_server.max_model_len + 200))
    with pytest.raises(LlmRequestRejected, match="400"):
        asyncio.run(_complete(vllm_server, [{"role": "user", "content": too_long}], max_tokens=8))


def test_the_official_openai_client_talks_to_the_same_server(vllm_server: VllmServer) -> None:
    client = openai.OpenAI(base_url=vllm_server.base_url, api_key="unused", timeout=180)
    try:
        assert vllm_server.model in [m.id for m in client.models.list().data]
        chunks = list(
            client.chat.completions.create(
                model=vllm_server.model,
                messages=[{"role": "user", "content": "Write a paragraph about backups."}],
                max_tokens=4,
                temperature=0,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
    finally:
        client.close()
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    usage = chunks[-1].usage  # unlike llama.cpp's server, vLLM sends a closing usage chunk
    assert text.strip()
    assert finish == ["length"]
    assert usage is not None and usage.completion_tokens == 4 and usage.prompt_tokens > 10
