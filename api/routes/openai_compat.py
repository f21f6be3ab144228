"""OpenAI-compatible /v1/chat/completions and /v1/models: any OpenAI client, office plug-in or
CRM integration can use the knowledge base as a "model", with a Zhiku API key.

The model ``zhiku`` answers from the documents the key's user may read, exactly as /v1/chat
does; the history comes from the client's ``messages`` (nothing is stored but the audit
record). Client system messages are not passed on: the grounding instructions are ours.
Citations come back as [n] in the text, a "Sources" list after it, and a ``citations`` field
beside ``choices``.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Answers, CurrentPrincipal
from api.errors import status_for
from core.errors import InvalidInput, NotFound, ZhikuError
from services.answers import Delta, Final
from services.schemas.search import SearchFilters

router = APIRouter(prefix="/v1", tags=["openai"])

MODEL = "zhiku"
ENDPOINT = "chat.completions"


class OpenAIMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: str
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # content parts: keep the text ones
            return "".join(str(p.get("text", "")) for p in self.content if p.get("type") == "text")
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    # Unknown OpenAI parameters (temperature, top_p, user…) are accepted and ignored.
    model_config = ConfigDict(extra="allow")
    model: str
    messages: list[OpenAIMessage] = Field(min_length=1, max_length=200)
    stream: bool = False
    # Zhiku's extension: narrow the documents searched.
    filters: SearchFilters = Field(default_factory=SearchFilters)


def openai_error(exc: ZhikuError) -> JSONResponse:
    status = status_for(exc)
    kind = {400: "invalid_request_error", 404: "not_found_error", 503: "service_unavailable"}
    return JSONResponse(
        {"error": {"message": str(exc), "type": kind.get(status, "api_error"), "code": status}},
        status_code=status,
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
    answers: Answers, principal: CurrentPrincipal, body: ChatCompletionRequest
) -> JSONResponse | StreamingResponse:
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
        answer = await answers.begin(
            principal, last.text(), history, body.filters.to_domain(), endpoint=ENDPOINT
        )
    except ZhikuError as exc:
        return openai_error(exc)

    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if not body.stream:
        final = await answer.final()
        await answer.finish(final)
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
