"""Answering a question: rewrite a follow-up → retrieve what the caller may read → passages →
stream the model's answer with citations checked on the fly → one audit record.

Shared by /v1/chat (our SSE protocol, stored conversations) and /v1/chat/completions (the
OpenAI protocol, history sent by the client): both call :meth:`AnswerService.begin`, which does
everything up to the first event (so a route can still answer with a plain HTTP error), and
both end with :meth:`AnswerStream.finish`, the one audit record. The routes only translate
events to their wire format. The steps live beside this module: ``question_rewrite``,
``passage_forms``, ``answer_generation``, ``answer_stream`` and ``answer_audit``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence

import anyio.to_thread

from core.access import Principal
from core.db.session import SessionFactory
from core.errors import InvalidInput
from core.resources import Resource
from core.settings_llm import LlmSettings
from core.settings_retrieval import RetrievalSettings
from core.slots import SlotCounter
from index.embedding import Embedder
from llm import prompts
from llm.client import Message
from llm.reply_language import reply_language
from llm.runtime import AnswerModels
from retrieval.context import PASSAGE_WRAPPER_TOKENS, Passage, build_passages, timed_budget
from retrieval.filters import MetadataFilters
from retrieval.language import query_language
from retrieval.search import Retriever, SearchResult
from services.answer_audit import record_answer
from services.answer_generation import generate_answer
from services.answer_limits import AnswerLimiter, BackendLoad, check_history
from services.answer_stream import AnswerStream
from services.answer_types import (
    AnswerEvent,
    Final,
    GenerationOptions,
    Prepared,
    with_client_instructions,
)
from services.passage_forms import passage_text
from services.pii import PiiPolicy, mask_fields
from services.question_rewrite import standalone_query

# Candidates retrieved for the passages: more than the passages, so merging and the budget
# have something to choose from.
CANDIDATES_PER_PASSAGE = 2


class AnswerService:
    def __init__(
        self,
        sessions: SessionFactory,
        retriever: Resource[Retriever],
        models: AnswerModels,
        token_count: Callable[[str], int],
        retrieval: RetrievalSettings,
        llm: LlmSettings,
        slots: SlotCounter | None = None,
        pii: PiiPolicy | None = None,
    ) -> None:
        self._sessions = sessions
        self._pii = pii
        self._retriever = retriever
        self._models = models
        self._token_count = token_count
        self._settings = retrieval
        self._limits = llm.answers
        # Shared by every API process through Redis when there is one (core.slots).
        self._limiter = AnswerLimiter(llm.answers, slots, models.answer_capacity)
        self._prompt_version = llm.prompt_versions.get("answer") or prompts.default_version(
            "answer"
        )

    def check_question(self, question: str) -> str:
        text = question.strip()
        if not text:
            raise InvalidInput("the question is empty")
        limit = self._settings.max_query_chars
        if len(text) > limit:
            raise InvalidInput(f"the question is longer than {limit} characters")
        return text

    def check_history(self, history: Sequence[Message]) -> None:
        """Refuse a client's history over the caps (``InvalidInput``)."""
        check_history(history, self._limits)

    async def begin(
        self,
        principal: Principal,
        question: str,
        history: Sequence[Message],
        filters: MetadataFilters,
        *,
        endpoint: str,
        conversation_id: str | None = None,
        options: GenerationOptions | None = None,
    ) -> AnswerStream:
        """Everything before the first event: check the input, rewrite a follow-up, retrieve,
        build the prompt and wait for the model's first event. Raises a ``ZhikuError`` (bad
        input, every model backend down…) before anything is streamed; a failure once the
        passages are known is audited first. Over the caller's concurrency caps it raises
        ``TooManyRequests`` at once; the slot is held until the stream's ``finish``."""
        question = self.check_question(question)
        filters.to_filter()  # bad filters are a 400 now, not an error event later
        lease = self._limiter.acquire(principal)
        try:
            prepared = await self.prepare(principal, question, history, filters, options)
            stream = AnswerStream(self, principal, prepared, endpoint, conversation_id, lease)
            await stream.start()
        except BaseException:
            lease.release()
            raise
        return stream

    def answers_running(self, principal: Principal) -> int:
        """Answers now in flight for ``principal``'s tenant."""
        return self._limiter.running(principal)

    def backend_load(self) -> list[BackendLoad]:
        """Answers generating and waiting at the answering backend (``/metrics``)."""
        return self._limiter.backend_load()

    async def prepare(
        self,
        principal: Principal,
        question: str,
        history: Sequence[Message],
        filters: MetadataFilters,
        options: GenerationOptions | None = None,
    ) -> Prepared:
        """``options``: the caller's say over the output; their instructions join the prompt
        after retrieval, so they can change how the answer reads, never what it may draw on."""
        options = options or GenerationOptions()
        router = self._models.router()
        search_query = await standalone_query(
            router,
            history,
            question,
            history_messages=self._settings.history_messages,
            history_tokens=self._limits.history_tokens,
            token_count=self._token_count,
        )
        # Retrieval blocks (the query is embedded, the engine searched, and on the first
        # request the store may still be opening): never on the event loop.
        result, passages = await anyio.to_thread.run_sync(
            self._retrieve, principal, search_query, filters
        )
        messages = None
        if passages:
            # A follow-up is answered as its standalone form: the model sees no history, so
            # "when did it open?" must arrive as "when did the Lisbon office open?".
            asked = search_query if history else question
            messages = prompts.answer_messages(
                asked, [passage_text(p) for p in passages], version=self._prompt_version
            )
            messages = with_client_instructions(messages, options.instructions)
        # A follow-up such as "那病假呢？" is written alike in both scripts: the conversation's
        # earlier questions tell which one to answer in.
        language = reply_language(question, [m["content"] for m in history if m["role"] == "user"])
        mask = self._pii.served(principal.tenant_id, language) if self._pii else None
        passages = [mask_fields(mask, p, "text") for p in passages]
        return Prepared(
            question=question,
            search_query=search_query,
            language=query_language(question),
            filters=filters,
            result=result,
            passages=passages,
            messages=messages,
            prompt_version=f"answer.{self._prompt_version}",
            options=options,
            mask=mask,
            reply_language=language,
        )

    def _retrieve(
        self, principal: Principal, query: str, filters: MetadataFilters
    ) -> tuple[SearchResult, list[Passage]]:
        settings = self._settings
        result = self._retriever.get().search(
            principal, query, limit=settings.max_passages * CANDIDATES_PER_PASSAGE, filters=filters
        )
        budget, overhead = self._passage_budget(query)
        passages = build_passages(
            result.hits,
            self._token_count,
            budget_tokens=budget,
            max_passages=settings.max_passages,
            merge_neighbours=settings.merge_neighbours,
            passage_overhead_tokens=overhead,
            question=query,
        )
        return result, passages

    def _passage_budget(self, query: str) -> tuple[int, int]:
        """(budget, tokens per passage besides its text): ``context_tokens``, or what the
        embedded model's measured prompt speed gets through before its first-token target
        (issue 12: 29.7 s to the first token over 1,500 tokens on 2 cores)."""
        speed = self._models.prompt_speed()
        if speed is None:
            return self._settings.context_tokens, 0
        budget = timed_budget(
            self._settings.context_tokens,
            tokens_per_s=speed.tokens_per_s,
            target_s=speed.target_s,
            question_tokens=self._token_count(query),
            floor=speed.floor_tokens,
            counter_per_model_token=speed.counter_per_model_token(
                query_language(query), self._token_count
            ),
        )
        return budget, PASSAGE_WRAPPER_TOKENS

    def generate(self, prepared: Prepared) -> AsyncIterator[AnswerEvent]:
        """``Started``, ``Delta``s, then ``Final`` (``services.answer_generation``)."""
        return generate_answer(prepared, self._models.router, self._token_count, self._embedder())

    def _embedder(self) -> Embedder | None:
        """The retrieval model, for attribution by meaning; None where the retriever is not
        up (attribution by words alone)."""
        try:
            return self._retriever.get().embedder
        except Exception:  # an unavailable retriever: the answer needs none
            return None

    def record(
        self,
        principal: Principal,
        prepared: Prepared,
        *,
        endpoint: str,
        final: Final | None,
        error: str | None = None,
        conversation_id: str | None = None,
        shown: str = "",
    ) -> str:
        """The audit record of one answer or failed attempt (``services.answer_audit``)."""
        return record_answer(
            self._sessions,
            principal,
            prepared,
            endpoint=endpoint,
            final=final,
            error=error,
            conversation_id=conversation_id,
            shown=shown,
        )
