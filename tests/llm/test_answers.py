"""What the real model does with the real prompts: grounded, cited, honest, standalone.

The facts are invented so that the model can only know them from the passages.
"""

from __future__ import annotations

import asyncio
import re

import pytest

from core.settings_llm import LlmBackendSettings, LlmSettings
from llm.citations import CitationFilter, is_dont_know, repair_citations
from llm.client import TextDelta
from llm.prompts import answer_messages, rewrite_messages
from llm.routing import LlmRouter

pytestmark = pytest.mark.slow  # every test asks the real model on the llama.cpp server

PASSAGES = [
    "The Zorblax 9 vacuum cleaner was released by Kelvane Appliances in March 2031.",
    "The warranty of the Zorblax 9 covers the motor for seven years and the battery for "
    "eighteen months.",
    "Kelvane Appliances is headquartered in the town of Ostrelin.",
]


def _ask(backend: LlmBackendSettings, messages: list[dict[str, str]], max_tokens: int) -> str:
    async def run() -> str:
        router = LlmRouter.from_settings(LlmSettings(backends=[backend]))
        try:
            completion = await router.complete("answer", messages, max_tokens=max_tokens)
        finally:
            await router.aclose()
        return completion.text

    return asyncio.run(run())


def test_a_grounded_answer_states_the_fact_and_cites_its_passage(
    local_backend: LlmBackendSettings,
) -> None:
    question = "How long is the motor of the Zorblax 9 under warranty?"
    raw = _ask(local_backend, answer_messages(question, PASSAGES), max_tokens=80)
    repaired = repair_citations(raw, len(PASSAGES))
    assert re.search(r"seven|7", repaired.text, re.IGNORECASE), raw
    assert 2 in repaired.cited, raw
    assert not is_dont_know(repaired.text), raw


def test_without_the_answer_in_the_passages_the_model_says_it_does_not_know(
    local_backend: LlmBackendSettings,
) -> None:
    question = "What colour is the Zorblax 9?"
    raw = _ask(local_backend, answer_messages(question, PASSAGES), max_tokens=40)
    assert is_dont_know(raw), raw


def test_a_streamed_answer_shows_only_valid_citations(local_backend: LlmBackendSettings) -> None:
    question = "Where is the company that makes the Zorblax 9 based, and when was it released?"

    async def run() -> tuple[str, CitationFilter]:
        router = LlmRouter.from_settings(LlmSettings(backends=[local_backend]))
        # Two passages only: a citation [3] from habit would be invalid and must vanish.
        shown, citations = "", CitationFilter(passage_count=2)
        async for event in router.stream(
            "answer", answer_messages(question, PASSAGES[:1] + PASSAGES[2:]), max_tokens=80
        ):
            if isinstance(event, TextDelta):
                shown += citations.feed(event.text)
        await router.aclose()
        return shown + citations.flush(), citations

    shown, citations = asyncio.run(run())
    assert "Ostrelin" in shown
    assert citations.cited, shown
    assert all(1 <= int(n) <= 2 for n in re.findall(r"\[(\d+)\]", shown))


def test_a_follow_up_becomes_a_standalone_query(local_backend: LlmBackendSettings) -> None:
    history = [
        {"role": "user", "content": "What is the Zorblax 9?"},
        {"role": "assistant", "content": "A vacuum cleaner made by Kelvane Appliances [1]."},
    ]
    query = _ask(local_backend, rewrite_messages(history, "How long is its warranty?"), 40)
    assert "zorblax" in query.lower(), query
    assert "warranty" in query.lower(), query
    assert "\n" not in query.strip(), query
