"""/v1/chat: a question in a stored conversation, answered with citations.

Streams Server-Sent Events by default:

    event: meta       data: {"conversation_id", "search_query"}
    event: sources    data: {"sources": [...]}             (before the first token)
    event: token      data: {"text"}                       (many)
    event: citations  data: {"citations": [...]}
    event: done       data: {"message_id", "answer_id", "outcome", "model"}
    event: error      data: {"detail"}                     (instead of the rest, on failure)

``sources`` lists the passages the model reads, each with the number the answer cites it by
(``[n]``), its document, pages, chunk ids and an excerpt of its text (at most
``MAX_SOURCE_EXCERPT_CHARS`` characters, ``truncated`` when cut): a client can show them while
the answer is still being written. It is empty when nothing readable matched. Clients that do
not know the event can ignore it; every other event is unchanged.

Errors found before the first token (bad input, unknown conversation, every model backend
down) are plain HTTP errors instead.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from api.deps import Answers, Conversations, CurrentPrincipal
from api.disconnect import unless_disconnected
from api.errors import GUARDED, error_responses, public_detail, stream_failure
from api.reasons import language_of, localize, note_question
from api.streams import finish_logged
from api.web import i18n
from core.errors import ZhikuError
from services.answer_types import Delta, Final, GenerationOptions
from services.passage_forms import sources_of
from services.schemas.chat import ChatAnswer, ChatRequestBody, Citation

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/chat", tags=["chat"], responses=GUARDED)


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@router.post(
    "",
    operation_id="chat",
    description=__doc__,
    response_model=ChatAnswer,
    responses={
        200: {
            "content": {"text/event-stream": {}},
            "description": "Server-Sent Events: meta, sources, token…, citations, done (or"
            " error); one JSON answer when `stream` is false",
        },
        **error_responses(400, 404, 503),
    },
)
async def chat(
    request: Request,
    answers: Answers,
    conversations: Conversations,
    principal: CurrentPrincipal,
    body: ChatRequestBody,
) -> ChatAnswer | StreamingResponse:
    question = answers.check_question(body.message)
    filters = body.filters.to_domain()
    filters.to_filter()  # a bad filter must not open a conversation
    conversation_id, history = await run_in_threadpool(
        conversations.open, principal, body.conversation_id, question
    )
    note_question(request, question)  # a refusal from here on is worded in its language
    # A Traditional answer in the reader's character forms (Hong Kong's or Taiwan's): the
    # question tells the script, only the reader's language tells the region.
    options = GenerationOptions(hong_kong_forms=language_of(request) == i18n.HONG_KONG)
    answer = await answers.begin(
        principal,
        question,
        history,
        filters,
        endpoint="chat",
        conversation_id=conversation_id,
        options=options,
    )

    async def save(final: Final) -> tuple[str, str]:
        answer_id = await answer.finish(final)
        # Shielded like the audit record: a client that leaves once the answer is complete
        # (a cancellation landing here) must not leave an audited answer without its turn.
        with anyio.CancelScope(shield=True):
            message_id = await run_in_threadpool(
                conversations.save_turn,
                principal,
                conversation_id,
                answer.prepared.question,
                final.answer,
                final.citations,
                answer_id,
            )
        return message_id, answer_id

    if not body.stream:
        try:
            finished, final = await unless_disconnected(request, answer.final())
        except ZhikuError as exc:
            await answer.finish(None, str(exc))
            raise
        if not finished or final is None:  # the client left: stop, audit as "cancelled"
            await answer.finish(None)
            return StreamingResponse(iter(()), status_code=499)  # nobody reads it
        message_id, answer_id = await save(final)
        return ChatAnswer(
            conversation_id=conversation_id,
            message_id=message_id,
            answer_id=answer_id,
            answer=final.answer,
            citations=[Citation.model_validate(c) for c in final.citations],
            outcome=final.outcome,
            search_query=answer.prepared.search_query,
            model=final.model,
            sources=sources_of(answer.prepared.passages),
        )

    async def stream() -> AsyncIterator[str]:
        error: str | None = None
        try:
            yield sse(
                "meta",
                {
                    "conversation_id": conversation_id,
                    "search_query": answer.prepared.search_query,
                },
            )
            sources = sources_of(answer.prepared.passages)
            yield sse("sources", {"sources": [s.model_dump() for s in sources]})
            final: Final | None = None
            async for event in answer.events():
                if isinstance(event, Delta):
                    yield sse("token", {"text": event.text})
                elif isinstance(event, Final):
                    final = event
            assert final is not None
            message_id, answer_id = await save(final)
            yield sse("citations", {"citations": final.citations})
            yield sse(
                "done",
                {
                    "message_id": message_id,
                    "answer_id": answer_id,
                    "outcome": final.outcome,
                    "model": final.model,
                },
            )
        except ZhikuError as exc:
            error = str(exc)  # the audit keeps the reason; the caller reads the public one
            log.warning("chat stream failed: %r", exc)
            yield sse("error", {"detail": localize(public_detail(exc), language_of(request))})
        except Exception as exc:  # saving the turn or the record failed: still a word
            log.exception("chat stream failed")
            _, detail = stream_failure(exc)
            error = f"{type(exc).__name__}: {detail}"  # the record keeps no driver's text
            yield sse("error", {"detail": localize(detail, language_of(request))})
        finally:
            # Failed, or the client went away: the attempt is audited all the same.
            await finish_logged(answer, None, error)

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
