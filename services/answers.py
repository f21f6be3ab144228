"""Answering a question: rewrite a follow-up → retrieve what the caller may read → passages →
stream the model's answer with citations checked on the fly → one audit record.

Shared by /v1/chat (our SSE protocol, stored conversations) and /v1/chat/completions (the
OpenAI protocol, history sent by the client): both call :meth:`AnswerService.begin`, which does
everything up to the first event (so a route can still answer with a plain HTTP error), and
both end with :meth:`AnswerStream.finish`, the one audit record. The routes only translate
events to their wire format.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence

import anyio
import anyio.to_thread

from core.access import Principal
from core.db import conversations as records
from core.db.session import SessionFactory, transaction
from core.errors import InvalidInput, UpstreamUnavailable, ZhikuError
from core.resources import Resource
from core.settings import LlmSettings, RetrievalSettings
from core.slots import SlotCounter
from llm import prompts
from llm.answer_script import ScriptFollower
from llm.attribution import SentenceAttributor
from llm.citations import CitationFilter, is_dont_know
from llm.client import Message, StreamEnd, StreamStart, TextDelta
from llm.reply_language import ENGLISH, no_passages, refusal, reply_language
from llm.routing import LlmRouter
from llm.runtime import AnswerModels
from retrieval.context import PASSAGE_WRAPPER_TOKENS, Passage, build_passages, timed_budget
from retrieval.filters import MetadataFilters
from retrieval.language import query_language
from retrieval.search import Retriever, SearchResult
from services.answer_limits import AnswerLease, AnswerLimiter, check_history, trim_history
from services.answer_types import (
    AnswerEvent,
    Delta,
    Final,
    GenerationOptions,
    Prepared,
    Started,
    with_client_instructions,
)
from services.pii import PiiPolicy, mask_fields, stream_mask
from services.schemas.chat import MAX_SOURCE_EXCERPT_CHARS, Source
from services.search import retrieved_summary

log = logging.getLogger(__name__)

# Enough for a standalone query; a rewriter that rambles is cut, not waited for.
REWRITE_MAX_TOKENS = 64
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
        self._limiter = AnswerLimiter(llm.answers, slots)
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
        search_query = await self.standalone_query(router, history, question)
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
                asked, [_passage_text(p) for p in passages], version=self._prompt_version
            )
            messages = with_client_instructions(messages, options.instructions)
        language = reply_language(question)
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

    async def standalone_query(
        self, router: LlmRouter, history: Sequence[Message], question: str
    ) -> str:
        """The follow-up rewritten so it stands alone; the question itself without history.

        If the rewriter is down, the previous question is prepended instead: cruder, but the
        search still sees what "it" refers to, and the answer is not lost to a rewrite outage.
        """
        turns = [m for m in history if m["role"] in ("user", "assistant")]
        turns = trim_history(
            turns[-self._settings.history_messages :],
            self._token_count,
            self._limits.history_tokens,
        )
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
            # The question back unchanged: the small model often does that after a long
            # answer, resolving nothing; the previous question then carries the context.
            if rewritten and rewritten.casefold() != question.casefold():
                return rewritten
        except UpstreamUnavailable as exc:
            log.warning("question rewriting failed, using the previous question: %s", exc)
        previous = next((m["content"] for m in reversed(turns) if m["role"] == "user"), "")
        return f"{previous} {question}".strip()

    async def generate(self, prepared: Prepared) -> AsyncIterator[AnswerEvent]:
        """``Started``, ``Delta``s, then ``Final``. With no passages the model is not asked.

        ``UpstreamUnavailable`` comes out of the first ``anext`` when every backend is down."""
        language = reply_language(prepared.question)
        if prepared.messages is None:
            text = no_passages(language)
            yield Started(None, None)
            yield Delta(text)
            yield Final(text, [], "no_context", None, None, language=language)
            return
        router = self._models.router()
        citations = CitationFilter(len(prepared.passages))
        # Cites each sentence the model left uncited (llm.attribution); a refusal to a question
        # not in English is replaced by its language's own (the prompt asks for English).
        attributor = SentenceAttributor(
            [_passage_text(p) for p in prepared.passages],
            prepared.question,
            refusal=refusal(language) if language != ENGLISH else "",
        )
        # ... and written in the question's script (Traditional for Traditional).
        script = ScriptFollower(language)
        # Last, masking personal data: a number split over tokens is held until it is whole.
        masking = stream_mask(prepared.mask)
        options = prepared.options
        shown: list[str] = []
        raw: list[str] = []
        model = backend = None
        end = StreamEnd(None)
        async for event in router.stream(
            "answer",
            prepared.messages,
            max_tokens=options.max_tokens,
            temperature=options.temperature,
            stop=options.stop,
            sampling=options.sampling(),
        ):
            if isinstance(event, StreamStart):
                model, backend = event.model, event.backend
                yield Started(model, backend)
            elif isinstance(event, TextDelta):
                raw.append(event.text)
                visible = masking.feed(script.feed(attributor.feed(citations.feed(event.text))))
                if visible:
                    shown.append(visible)
                    yield Delta(visible)
            else:
                end = event
        tail = script.feed(attributor.feed(citations.flush()) + attributor.flush())
        tail = masking.feed(tail + script.flush()) + masking.flush()
        if tail:
            shown.append(tail)
            yield Delta(tail)
        answer = "".join(shown).strip()
        usage = self._usage(prepared, end, raw)
        final = Final(answer, [], "declined", model, backend, end.finish_reason, *usage, language)
        if not attributor.declined and not is_dont_know(answer):
            by_number = {p.number: p for p in prepared.passages}
            final.citations = [by_number[n].citation() for n in attributor.cited if n in by_number]
            final.outcome = "ok"
        yield final

    def _usage(self, prepared: Prepared, end: StreamEnd, raw: list[str]) -> tuple[int, int]:
        """The backend's token counts; where it sent none (llama-cpp-python's server, when
        streaming), estimates: the prompt by our tokenizer, the answer by its streamed chunks
        (one token each on llama.cpp and vLLM; a character split over two tokens is one)."""
        prompt = end.prompt_tokens
        if prompt is None:
            prompt = sum(self._token_count(m["content"]) for m in prepared.messages or [])
        completion = end.completion_tokens if end.completion_tokens is not None else len(raw)
        return prompt, completion

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
        """The audit record of one answer (or failed attempt); returns its id. A stopped
        answer in a conversation keeps its turn too: the question and the ``shown`` part."""
        outcome = final.outcome if final else ("cancelled" if error is None else "error")
        with transaction(self._sessions) as session:
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
                    {
                        "number": c["number"],
                        "doc_id": c["document_id"],
                        "chunk_ids": c["chunk_ids"],
                    }
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
            if outcome == "cancelled" and conversation_id is not None:
                records.keep_stopped_turn(
                    session, principal, conversation_id, prepared.question, shown, row.id
                )
            return row.id


class AnswerStream:
    """One answer on its way: its events, and exactly one audit record however it ends
    (answered, failed, or abandoned by a client that went away)."""

    def __init__(
        self,
        service: AnswerService,
        principal: Principal,
        prepared: Prepared,
        endpoint: str,
        conversation_id: str | None,
        lease: AnswerLease,
    ) -> None:
        self.prepared = prepared
        self._lease = lease
        self._service = service
        self._principal = principal
        self._endpoint = endpoint
        self._conversation_id = conversation_id
        self._events = service.generate(prepared)
        self._first: AnswerEvent | None = None
        self._shown: list[str] = []  # the text sent so far: kept as the turn if stopped
        self.answer_id: str | None = None

    async def start(self) -> None:
        try:
            self._first = await anext(self._events)
        except ZhikuError as exc:  # every backend down: audited, then a plain HTTP error
            await self.finish(None, str(exc))
            raise

    async def events(self) -> AsyncIterator[AnswerEvent]:
        assert self._first is not None, "start() first"
        yield self._first
        async for event in self._events:
            if isinstance(event, Delta):
                self._shown.append(event.text)
            yield event

    async def final(self) -> Final:
        """Run the answer to its end (a route that does not stream)."""
        async for event in self.events():
            if isinstance(event, Final):
                return event
        raise RuntimeError("the answer ended without a final event")

    async def finish(self, final: Final | None, error: str | None = None) -> str:
        """Write the audit record (once; later calls return the same id). Shielded, so a
        client that disconnects cancels the stream, not its record. Gives the answer's
        concurrency slot back and closes the model's stream if it is still open."""
        self._lease.release()
        if self.answer_id is None:
            with anyio.CancelScope(shield=True):
                await self._events.aclose()  # an abandoned answer stops generating
                self.answer_id = await anyio.to_thread.run_sync(
                    lambda: self._service.record(
                        self._principal,
                        self.prepared,
                        endpoint=self._endpoint,
                        final=final,
                        error=error,
                        conversation_id=self._conversation_id,
                        shown="".join(self._shown),
                    )
                )
        return self.answer_id


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


def sources_of(passages: Sequence[Passage]) -> list[Source]:
    """The passages as a client may show them before the answer: each with the number the
    answer cites it by, its text cut to a bounded excerpt."""
    shown = []
    for p in passages:
        cut = len(p.text) > MAX_SOURCE_EXCERPT_CHARS
        shown.append(
            Source(
                number=p.number,
                document_id=p.doc_id,
                version=p.version,
                title=p.title,
                filename=p.filename,
                page=p.page,
                page_end=p.page_end,
                section=list(p.section_path),
                chunk_ids=list(p.chunk_ids),
                excerpt=p.text[:MAX_SOURCE_EXCERPT_CHARS].rstrip() + " …" if cut else p.text,
                truncated=cut,
            )
        )
    return shown
