"""A follow-up question rewritten so that it stands alone, for retrieval (and for the model,
which sees no history)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from core.errors import UpstreamUnavailable
from llm import prompts
from llm.client import Message
from llm.routing import LlmRouter
from services.answer_limits import trim_history

log = logging.getLogger(__name__)

# Enough for a standalone query; a rewriter that rambles is cut, not waited for.
REWRITE_MAX_TOKENS = 64


async def standalone_query(
    router: LlmRouter,
    history: Sequence[Message],
    question: str,
    *,
    history_messages: int,
    history_tokens: int,
    token_count: Callable[[str], int],
) -> str:
    """The follow-up rewritten so it stands alone; the question itself without history.
    The rewriter reads the last ``history_messages`` turns, cut to ``history_tokens``.

    If the rewriter is down, the previous question is prepended instead: cruder, but the
    search still sees what "it" refers to, and the answer is not lost to a rewrite outage.
    """
    turns = [m for m in history if m["role"] in ("user", "assistant")]
    turns = trim_history(turns[-history_messages:], token_count, history_tokens)
    if not turns:
        return question
    try:
        completion = await router.complete(
            "rewrite",
            prompts.rewrite_messages(turns, question),
            max_tokens=REWRITE_MAX_TOKENS,
            temperature=0.0,
        )
        rewritten = clean_rewrite(completion.text)
        # The question back unchanged: the small model often does that after a long
        # answer, resolving nothing; the previous question then carries the context.
        if rewritten and rewritten.casefold() != question.casefold():
            return rewritten
    except UpstreamUnavailable as exc:
        log.warning("question rewriting failed, using the previous question: %s", exc)
    previous = next((m["content"] for m in reversed(turns) if m["role"] == "user"), "")
    return f"{previous} {question}".strip()


def clean_rewrite(text: str) -> str:
    """The rewriter's first line without a "query:" label or quotes; empty if unusable."""
    line = next((ln.strip() for ln in text.strip().splitlines() if ln.strip()), "")
    for prefix in ("standalone search query:", "search query:", "query:"):
        if line.lower().startswith(prefix):
            line = line[len(prefix) :].strip()
    line = line.strip("\"'“”「」` ")
    return line if 0 < len(line) <= 1000 else ""
