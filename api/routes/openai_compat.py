"""OpenAI-compatible /v1/chat/completions and /v1/models: any OpenAI client, office plug-in or
CRM integration can use the knowledge base as a "model", with a Zhiku API key.

The model ``zhiku`` answers from the documents the key's user may read, exactly as /v1/chat
does; the history comes from the client's ``messages`` (nothing is stored but the audit
record). Client system messages are not passed on: the grounding instructions are ours.
Citations come back as [n] in the text, a "Sources" list after it, and a ``citations`` field
beside ``choices``.

Every field is bounded (count and length); the history is further held to
``LlmSettings.answers`` (``max_history_messages``, ``max_history_chars``: 400 over them) and cut
to the rewriter's token budget. A non-streaming request whose client leaves stops generating
and is audited as "cancelled".
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Answers, CurrentPrincipal
from api.disconnect import unless_disconnected
from api.errors import status_for
from core.errors import InvalidInput, NotFound, TooManyRequests, ZhikuError
from services.answers import Delta, Final
from services.schemas.search import SearchFilters

router = APIRouter(prefix="/v1", tags=["openai"])

MODEL = "zhiku"
ENDPOINT = "chat.completions"
# Outer bounds of the wire format (the settings' caps are checked after parsing, with a
# clearer message): one message's text, content parts per message, messages per request.
MAX_MESSAGE_CHARS = 32_000
MAX_CONTENT_PARTS = 32
MAX_MESSAGES = 200

ShortText = Annotated[str, Field(max_length=64)]


class ContentPart(BaseModel):
    # Image and audio parts are accepted and skipped: only text is answered from.
    model_config = ConfigDict(extra="ignore")
    type: ShortText
    text: str | None = Field(default=None, max_length=MAX_MESSAGE_CHARS)


class OpenAIMessage(BaseModel):
    # Extra OpenAI fields (name, tool_calls…) are accepted and dropped, not kept unbounded.
    model_config = ConfigDict(extra="ignore")
    role: ShortText
    content: (
        Annotated[str, Field(max_length=MAX_MESSAGE_CHARS)]
        | Annotated[list[ContentPart], Field(max_length=MAX_CONTENT_PARTS)]
        | None
    ) = None

    def text(self) -> str:
        if isinstance(self.content, list):  # content parts: keep the text ones
            return "".join(p.text or "" for p in self.content if p.type == "text")
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    # Unknown OpenAI parameters (temperature, top_p, user…) are accepted and ignored.
    model_config = ConfigDict(extra="ignore")
    model: ShortText
    messages: list[OpenAIMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    stream: bool = False
    # Zhiku's extension: narrow the documents searched.
    filters: SearchFilters = Field(default_factory=SearchFilters)


def openai_error(exc: ZhikuError) -> JSONResponse:
    status = status_for(exc)
    kind = {
        400: "invalid_request_error",
        404: "not_found_error",
        429: "rate_limit_error",
        503: "service_unavailable",
    }
    headers = {"Retry-After": str(exc.retry_after_s)} if isinstance(exc, TooManyRequests) else None
    return JSONResponse(
        {"error": {"message": str(exc), "type": kind.get(status, "api_error"), "code": status}},
        status_code=status,
        headers=headers,
    )


def sources_footer(citations: list[dict[str, object]]) -> str:
    if not citations:
        return ""
    lines = []
    for c in citations:
        page = f", p. {c['page']}" if c.get("page") else ""
        lines.append(f"[{c['number']}] {c['title'] or c['filename']}{page}")
    return "\n\nSources:\n" + "\n".join(lines)


@router.get("/models", operation_id="openai-models")
def list_models(_: CurrentPrincipal) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "zhiku"}],
    }


@router.post("/chat/completions", operation_id="openai-chat-completions", response_model=None)
async def chat_completions(
    request: Request, answers: Answers, principal: CurrentPrincipal, body: ChatCompletionRequest
) -> Response:
    try:
        if body.model != MODEL:
            raise NotFound(f"model {body.model!r} does not exist; use {MODEL!r}")
        *earlier, last = body.messages
        if last.role != "user":
            raise InvalidInput("the last message must be the user's question")
        history = [
            {"role": m.role, "content": m.text()}
            for m in earlier
            if m.role in ("user", "assistant") and m.text().strip()
        ]
        answers.check_history(history)
        answer = await answers.begin(
            principal, last.text(), history, body.filters.to_domain(), endpoint=ENDPOINT
        )
    except ZhikuError as exc:
        return openai_error(exc)

    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if not body.stream:
        final: Final | None = None
        error: str | None = None
        try:
            finished, final = await unless_disconnected(request, answer.final())
        except ZhikuError as exc:
            error = str(exc)
            return openai_error(exc)
        finally:
            await answer.finish(final, error)  # no final, no error: audited as "cancelled"
        if not finished or final is None:
            return Response(status_code=499)  # nobody is listening; nginx's "client closed"
        return JSONResponse(
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": MODEL,
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": final.answer + sources_footer(final.citations),
                        },
                        "finish_reason": "stop",
                    }
                ],
                "citations": final.citations,
            }
        )

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        payload = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            **extra,
        }
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

    async def stream() -> AsyncIterator[str]:
        final: Final | None = None
        error: str | None = None
        try:
            yield chunk({"role": "assistant", "content": ""})
            async for event in answer.events():
                if isinstance(event, Delta):
                    yield chunk({"content": event.text})
                elif isinstance(event, Final):
                    final = event
            assert final is not None
            footer = sources_footer(final.citations)
            if footer:
                yield chunk({"content": footer})
            yield chunk({}, "stop", citations=final.citations)
            yield "data: [DONE]\n\n"
        except ZhikuError as exc:
            error = str(exc)
            yield f"data: {json.dumps({'error': {'message': error, 'type': 'api_error'}})}\n\n"
        finally:
            await answer.finish(final, error)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )
