"""/v1/chat: a question in a stored conversation, answered with citations.

Streams Server-Sent Events by default:

    event: meta       data: {"conversation_id", "search_query"}
    event: token      data: {"text"}                       (many)
    event: citations  data: {"citations": [...]}
    event: done       data: {"message_id", "answer_id", "outcome", "model"}
    event: error      data: {"detail"}                     (instead of the rest, on failure)

Errors found before the first token (bad input, unknown conversation, every model backend
down) are plain HTTP errors instead.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import anyio
from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from api.chat_schemas import ChatAnswer, ChatRequestBody, Citation
from api.deps import CurrentPrincipal, StateDep
from api.services import answers
from api.state import AppState
from core.access import Principal
from core.db import conversations as queries
from core.db.session import transaction
from core.errors import ZhikuError

router = APIRouter(prefix="/v1/chat", tags=["chat"])

TITLE_CHARS = 80


def sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def open_conversation(
    state: AppState, principal: Principal, conversation_id: str | None, question: str
) -> tuple[str, list[answers.Message]]:
    """The conversation (the caller's own, or a new one) and its recent messages."""
    with transaction(state.services.sessions) as session:
        if conversation_id:
            conversation = queries.owned_conversation(session, principal, conversation_id)
        else:
            conversation = queries.create_conversation(session, principal, question[:TITLE_CHARS])
        last = state.settings.retrieval.history_messages
        history = [
            {"role": m.role, "content": m.content}
            for m in queries.messages(session, conversation, last=last)
        ]
        return conversation.id, history


def save_turn(
    state: AppState,
    principal: Principal,
    conversation_id: str,
    prepared: answers.Prepared,
    final: answers.Final,
) -> tuple[str, str]:
    """Both messages and the audit record; returns (message id, answer id)."""
    answer_id = answers.record(
        state, principal, prepared, endpoint="chat", final=final, conversation_id=conversation_id
    )
    with transaction(state.services.sessions) as session:
        conversation = queries.owned_conversation(session, principal, conversation_id)
        queries.append_message(session, conversation, "user", prepared.question)
        message = queries.append_message(
            session, conversation, "assistant", final.answer, final.citations, answer_id
        )
        return message.id, answer_id


@router.post(
    "",
    operation_id="chat",
    response_model=ChatAnswer,
    responses={200: {"content": {"text/event-stream": {}}}, 400: {}, 404: {}, 503: {}},
)
async def chat(
    state: StateDep, principal: CurrentPrincipal, body: ChatRequestBody
) -> ChatAnswer | StreamingResponse:
    question = answers.check_question(state, body.message)
    filters = body.filters.to_domain()
    filters.to_filter()  # bad filters are a 400 now, not an error event later
    conversation_id, history = await run_in_threadpool(
        open_conversation, state, principal, body.conversation_id, question
    )
    prepared = await answers.prepare(state, principal, question, history, filters)
    events = answers.generate(state, prepared)
    try:
        first = await anext(events)  # every backend down: 503 here, before streaming
    except ZhikuError as exc:
        await run_in_threadpool(
            answers.record, state, principal, prepared, endpoint="chat", final=None,
            error=str(exc), conversation_id=conversation_id,
        )  # fmt: skip
        raise
    if not body.stream:
        final = await _drain(events)
        message_id, answer_id = await run_in_threadpool(
            save_turn, state, principal, conversation_id, prepared, final
        )
        return ChatAnswer(
            conversation_id=conversation_id,
            message_id=message_id,
            answer_id=answer_id,
            answer=final.answer,
            citations=[Citation.model_validate(c) for c in final.citations],
            outcome=final.outcome,
            search_query=prepared.search_query,
            model=final.model,
        )

    async def stream() -> AsyncIterator[str]:
        final: answers.Final | None = None
        error: str | None = None
        try:
            yield sse(
                "meta",
                {"conversation_id": conversation_id, "search_query": prepared.search_query},
            )
            async for event in _chain(first, events):
                if isinstance(event, answers.Delta):
                    yield sse("token", {"text": event.text})
                elif isinstance(event, answers.Final):
                    final = event
            assert final is not None
            message_id, answer_id = await run_in_threadpool(
                save_turn, state, principal, conversation_id, prepared, final
            )
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
            error = str(exc)
            yield sse("error", {"detail": error})
        finally:
            if final is None:  # failed or the client went away: audit the attempt anyway
                # Shielded: a client that disconnects cancels this task, not its audit record.
                with anyio.CancelScope(shield=True):
                    await run_in_threadpool(
                        answers.record, state, principal, prepared, endpoint="chat",
                        final=None, error=error, conversation_id=conversation_id,
                    )  # fmt: skip

    return StreamingResponse(
        stream(),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _chain(
    first: answers.AnswerEvent, rest: AsyncIterator[answers.AnswerEvent]
) -> AsyncIterator[answers.AnswerEvent]:
    yield first
    async for event in rest:
        yield event


async def _drain(events: AsyncIterator[answers.AnswerEvent]) -> answers.Final:
    async for event in events:
        if isinstance(event, answers.Final):
            return event
    raise RuntimeError("the answer ended without a final event")
