"""Answering a question: rewrite a follow-up → retrieve what the caller may read → passages →
stream the model's answer with citations checked on the fly → one audit record.

Shared by /v1/chat (our SSE protocol, stored conversations) and /v1/chat/completions (the
OpenAI protocol, history sent by the client). The routes only translate events to their wire
format.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

from fastapi.concurrency import run_in_threadpool

from api.services.search import retrieved_summary
from api.state import AppState
from core.access import Principal
from core.db import conversations as records
from core.db.session import transaction
from core.errors import InvalidInput, UpstreamUnavailable
from llm import prompts
from llm.citations import CitationFilter, is_dont_know
from llm.client import Message, StreamStart, TextDelta
from llm.routing import LlmRouter
from retrieval.context import Passage, build_passages
from retrieval.filters import MetadataFilters
from retrieval.language import query_language
from retrieval.search import SearchResult

log = logging.getLogger(__name__)

NO_CONTEXT = {
    "en": "I could not find anything about this in the documents you have access to.",
    "zh": "在您有权访问的文档中，没有找到与此相关的内容。",
}
# Enough for a standalone query; a rewriter that rambles is cut, not waited for.
REWRITE_MAX_TOKENS = 64
# Candidates retrieved for the passages: more than the passages, so merging and the budget
# have something to choose from.
CANDIDATES_PER_PASSAGE = 2


@dataclass
class Prepared:
    """Everything decided before the model speaks."""

    question: str
    search_query: str
    language: str
    filters: MetadataFilters
    result: SearchResult
    passages: list[Passage]
    messages: list[Message] | None  # None: nothing readable matched, no model call
    prompt_version: str
    started: float = field(default_factory=time.perf_counter)


@dataclass
class Final:
    answer: str
    citations: list[dict[str, object]]
    outcome: str  # "ok", "no_context", "declined"
    model: str | None
    backend: str | None
    finish_reason: str | None = None


@dataclass(frozen=True)
class Started:
    model: str | None
    backend: str | None


@dataclass(frozen=True)
class Delta:
    text: str


AnswerEvent = Started | Delta | Final


def check_question(state: AppState, question: str) -> str:
    text = question.strip()
    if not text:
        raise InvalidInput("the question is empty")
    limit = state.settings.retrieval.max_query_chars
    if len(text) > limit:
        raise InvalidInput(f"the question is longer than {limit} characters")
    return text


async def prepare(
    state: AppState,
    principal: Principal,
    question: str,
    history: Sequence[Message],
    filters: MetadataFilters,
) -> Prepared:
    question = check_question(state, question)
    settings = state.settings.retrieval
    router = state.answer_model()
    search_query = await standalone_query(router, state, history, question)
    result = await run_in_threadpool(
        state.retriever().search,
        principal,
        search_query,
        limit=settings.max_passages * CANDIDATES_PER_PASSAGE,
        filters=filters,
    )
    passages = build_passages(
        result.hits,
        state.services.embedder.token_count,
        budget_tokens=settings.context_tokens,
        max_passages=settings.max_passages,
        merge_neighbours=settings.merge_neighbours,
    )
    version = state.settings.llm.prompt_versions.get("answer") or prompts.versions("answer")[-1]
    messages = None
    if passages:
        # A follow-up is answered as its standalone form: the model sees no history, so
        # "when did it open?" must arrive as "when did the Lisbon office open?".
        asked = search_query if history else question
        messages = prompts.answer_messages(
            asked, [_passage_text(p) for p in passages], version=version
        )
    return Prepared(
        question=question,
        search_query=search_query,
        language=query_language(question),
        filters=filters,
        result=result,
        passages=passages,
        messages=messages,
        prompt_version=f"answer.{version}",
    )


async def standalone_query(
    router: LlmRouter, state: AppState, history: Sequence[Message], question: str
) -> str:
    """The follow-up rewritten so it stands alone; the question itself without history.

    If the rewriter is down, the previous question is prepended instead: cruder, but the
    search still sees what "it" refers to, and the answer is not lost to a rewrite outage.
    """
    turns = [m for m in history if m["role"] in ("user", "assistant")]
    turns = turns[-state.settings.retrieval.history_messages :]
    if not turns:
        return question
    try:
        completion = await router.complete(
            "rewrite",
            prompts.rewrite_messages(turns, question),
            max_tokens=REWRITE_MAX_TOKENS,
            temperature=0.0,
        )
        rewritten = _clean_rewrite(completion.text)
        if rewritten:
            return rewritten
    except UpstreamUnavailable as exc:
        log.warning("question rewriting failed, using the previous question: %s", exc)
    previous = next((m["content"] for m in reversed(turns) if m["role"] == "user"), "")
    return f"{previous} {question}".strip()


def _clean_rewrite(text: str) -> str:
    line = next((ln.strip() for ln in text.strip().splitlines() if ln.strip()), "")
    for prefix in ("standalone search query:", "search query:", "query:"):
        if line.lower().startswith(prefix):
            line = line[len(prefix) :].strip()
    line = line.strip("\"'“”「」` ")
    return line if 0 < len(line) <= 1000 else ""


def _passage_text(passage: Passage) -> str:
    """A title line (with the page), then the text: the shape the prompt's example uses."""
    title = passage.title or passage.filename
    head = f"{title}, page {passage.page}" if passage.page else title
    return passage.text if passage.text.startswith(head) else f"{head}\n{passage.text}"


async def generate(state: AppState, prepared: Prepared) -> AsyncIterator[AnswerEvent]:
    """``Started``, ``Delta``s, then ``Final``. With no passages the model is not asked.

    ``UpstreamUnavailable`` comes out of the first ``anext`` when every backend is down, so a
    route can still answer 503 before it starts streaming.
    """
    if prepared.messages is None:
        text = NO_CONTEXT.get(prepared.language, NO_CONTEXT["en"])
        yield Started(None, None)
        yield Delta(text)
        yield Final(text, [], "no_context", None, None)
        return
    router = state.answer_model()
    citations = CitationFilter(len(prepared.passages))
    shown: list[str] = []
    model = backend = finish = None
    async for event in router.stream("answer", prepared.messages):
        if isinstance(event, StreamStart):
            model, backend = event.model, event.backend
            yield Started(model, backend)
        elif isinstance(event, TextDelta):
            visible = citations.feed(event.text)
            if visible:
                shown.append(visible)
                yield Delta(visible)
        else:
            finish = event.finish_reason
    tail = citations.flush()
    if tail:
        shown.append(tail)
        yield Delta(tail)
    answer = "".join(shown).strip()
    if is_dont_know(answer):
        yield Final(answer, [], "declined", model, backend, finish)
        return
    by_number = {p.number: p for p in prepared.passages}
    cited = [by_number[n].citation() for n in citations.cited if n in by_number]
    yield Final(answer, cited, "ok", model, backend, finish)


def record(
    state: AppState,
    principal: Principal,
    prepared: Prepared,
    *,
    endpoint: str,
    final: Final | None,
    error: str | None = None,
    conversation_id: str | None = None,
) -> str:
    """The audit record of one answer (or failed attempt); returns its id."""
    outcome = final.outcome if final else ("cancelled" if error is None else "error")
    with transaction(state.services.sessions) as session:
        row = records.record_answer(
            session,
            principal,
            endpoint=endpoint,
            conversation_id=conversation_id,
            question=prepared.question,
            search_query=prepared.search_query,
            filters=prepared.filters.describe(),
            retrieved=retrieved_summary(prepared.result.hits),
            cited=[
                {"number": c["number"], "doc_id": c["document_id"], "chunk_ids": c["chunk_ids"]}
                for c in (final.citations if final else [])
            ],
            model=final.model if final else None,
            backend=final.backend if final else None,
            prompt_version=prepared.prompt_version if prepared.messages else None,
            outcome=outcome,
            error=error,
            answer=final.answer if final else None,
            latency_ms=int((time.perf_counter() - prepared.started) * 1000),
        )
        return row.id
