"""The model's answer as events: streamed through the citation filter, the sentence
attributor, the script follower and the personal-data mask, then one ``Final``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from index.embedding import Embedder
from llm.answer_script import ScriptFollower
from llm.attribution import SentenceAttributor
from llm.citations import CitationFilter, is_dont_know
from llm.client import StreamEnd, StreamStart, TextDelta
from llm.reply_language import ENGLISH, no_passages, refusal, reply_language
from llm.routing import LlmRouter
from services.answer_meaning import PassageMeaning
from services.answer_types import AnswerEvent, Delta, Final, Prepared, Started
from services.passage_forms import passage_text
from services.pii import stream_mask


async def generate_answer(
    prepared: Prepared,
    get_router: Callable[[], LlmRouter],
    token_count: Callable[[str], int],
    embedder: Embedder | None = None,
    meaning_wait_s: float = 0.0,
) -> AsyncIterator[AnswerEvent]:
    """``Started``, ``Delta``s, then ``Final``. With no passages the model is not asked (and
    ``get_router`` not called). ``embedder``: the retrieval model, for the meaning of
    sentences that restate the question (:mod:`services.answer_meaning`); None: words only.

    ``UpstreamUnavailable`` comes out of the first ``anext`` when every backend is down."""
    language = prepared.reply_language or reply_language(prepared.question)
    if prepared.messages is None:
        text = no_passages(language)
        yield Started(None, None)
        yield Delta(text)
        yield Final(text, [], "no_context", None, None, language=language)
        return
    router = get_router()
    texts = [passage_text(p) for p in prepared.passages]
    meaning = PassageMeaning(embedder, texts, meaning_wait_s) if embedder is not None else None
    try:
        async for event in _generate(prepared, router, token_count, texts, meaning, language):
            yield event
    finally:
        if meaning is not None:
            meaning.close()


async def _generate(
    prepared: Prepared,
    router: LlmRouter,
    token_count: Callable[[str], int],
    texts: list[str],
    meaning: PassageMeaning | None,
    language: str,
) -> AsyncIterator[AnswerEvent]:
    citations = CitationFilter(len(prepared.passages))
    # Cites each sentence the model left uncited (llm.attribution); a refusal to a question
    # not in English is replaced by its language's own (the prompt asks for English).
    attributor = SentenceAttributor(
        texts,
        prepared.question,
        refusal=refusal(language) if language != ENGLISH else "",
        meaning=meaning,
    )
    # ... and written in the question's script (Traditional for Traditional).
    script = ScriptFollower(language, hong_kong=prepared.options.hong_kong_forms)
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
    usage = token_usage(prepared, end, raw, token_count)
    final = Final(answer, [], "declined", model, backend, end.finish_reason, *usage, language)
    if not attributor.declined and not is_dont_know(answer):
        by_number = {p.number: p for p in prepared.passages}
        final.citations = [by_number[n].citation() for n in attributor.cited if n in by_number]
        final.outcome = "ok"
    yield final


def token_usage(
    prepared: Prepared, end: StreamEnd, raw: list[str], token_count: Callable[[str], int]
) -> tuple[int, int]:
    """The backend's token counts; where it sent none (llama-cpp-python's server, when
    streaming), estimates: the prompt by our tokenizer, the answer by its streamed chunks
    (one token each on llama.cpp and vLLM; a character split over two tokens is one)."""
    prompt = end.prompt_tokens
    if prompt is None:
        prompt = sum(token_count(m["content"]) for m in prepared.messages or [])
    completion = end.completion_tokens if end.completion_tokens is not None else len(raw)
    return prompt, completion
