"""OpenAI-compatible /v1/chat/completions and /v1/models: any OpenAI client, office plug-in or
CRM integration can use the knowledge base as a "model", with a Zhiku API key.

The model ``zhiku`` answers from the documents the key's user may read, exactly as /v1/chat
does; the history comes from the client's ``messages`` (nothing is stored but the audit
record). Retrieval is filtered by the key's principal before any prompt exists, so nothing in
the messages can widen it. Client system (and developer) messages join the prompt as
instructions subordinate to ours (``services.answer_types.with_client_instructions``): tone,
format, length, language. ``max_completion_tokens`` (or ``max_tokens``; the former wins),
``temperature`` (default 0), ``top_p``, ``stop``, ``seed`` reach the model, capped by the
backend's own ``max_tokens``. ``usage`` is the answer's model call (the backend's count where
it gives one), ``finish_reason`` the model's ("length" when cut). What cannot be honoured
(tools, n > 1, JSON modes, log-probabilities, images, audio) is a 400 in OpenAI's shape, as is
every other error on these paths (``api.routes.openai_errors``).

Citations come back as [n] in the text, a "Sources" list after it, and a ``citations`` field
beside ``choices`` (on the last chunk when streaming): the passages the text cites, no others.

Every field is bounded (count and length); the history is further held to
``LlmSettings.answers`` (``max_history_messages``, ``max_history_chars``: 400 over them) and cut
to the rewriter's token budget. A non-streaming request whose client leaves stops generating
and is audited as "cancelled".
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import AfterValidator

from api.deps import Answers, CurrentPrincipal
from api.disconnect import unless_disconnected
from api.errors import stream_failure
from api.reasons import language_of, localize, note_question
from api.routes.openai_errors import OPENAI_ERRORS, error_body
from api.streams import finish_logged
from api.web import i18n
from core.errors import ZhikuError
from llm.reply_language import sources_heading
from services.answer_types import Delta, Final
from services.schemas.bounds import reject_control_characters
from services.schemas.openai_chat import MODEL, ChatCompletionRequest

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["openai"], responses=OPENAI_ERRORS)

ENDPOINT = "chat.completions"
# A model's name, bounded and clean like the body's ``model`` (``ShortText``).
ModelId = Annotated[str, Path(max_length=64), AfterValidator(reject_control_characters)]
MODEL_CARD = {"id": MODEL, "object": "model", "created": 0, "owned_by": "zhiku"}


def refuse(
    request: Request, status: int, message: str, param: str | None = None, code: str | None = None
) -> JSONResponse:
    """The route's own refusal, in the caller's language like every other error here."""
    message = localize(message, language_of(request)) or message
    return JSONResponse(error_body(status, message, param=param, code=code), status_code=status)


def sources_footer(citations: list[dict[str, object]], language: str = "en") -> str:
    """The list after the answer, in the question's language (``Final.language``)."""
    if not citations:
        return ""
    chinese = language != "en"
    lines = []
    for c in citations:
        page = ""
        if c.get("page"):
            unit = "頁" if language == "zh-Hant" else "页"
            page = f"，第 {c['page']} {unit}" if chinese else f", p. {c['page']}"
        lines.append(f"[{c['number']}] {c['title'] or c['filename']}{page}")
    return "\n\n" + sources_heading(language) + "\n" + "\n".join(lines)


def usage_of(final: Final) -> dict[str, int]:
    return {
        "prompt_tokens": final.prompt_tokens,
        "completion_tokens": final.completion_tokens,
        "total_tokens": final.prompt_tokens + final.completion_tokens,
    }


@router.get("/models", operation_id="openai-models")
def list_models(_: CurrentPrincipal) -> dict[str, Any]:
    return {"object": "list", "data": [MODEL_CARD]}


@router.get("/models/{model_id}", operation_id="openai-model", response_model=None)
def get_model(
    request: Request, _: CurrentPrincipal, model_id: ModelId
) -> dict[str, Any] | JSONResponse:
    if model_id != MODEL:
        return refuse(
            request,
            404,
            f"the model {model_id!r} does not exist; use {MODEL!r}",
            "model",
            "model_not_found",
        )
    return MODEL_CARD


@router.post("/chat/completions", operation_id="openai-chat-completions", response_model=None)
async def chat_completions(
    request: Request, answers: Answers, principal: CurrentPrincipal, body: ChatCompletionRequest
) -> Response:
    # Other errors (ZhikuError, validation) are raised to the app's handlers and reshaped on
    # the way out by ``OpenAIErrorShape``; these name the parameter, as OpenAI does.
    if body.model != MODEL:
        return refuse(
            request,
            404,
            f"the model {body.model!r} does not exist; use {MODEL!r}",
            "model",
            "model_not_found",
        )
    if (unsupported := body.unsupported()) is not None:
        return refuse(request, 400, unsupported.message, unsupported.param, "unsupported_parameter")
    last = body.messages[-1]
    if last.role != "user":
        return refuse(request, 400, "the last message must be the user's question", "messages")
    history = body.history()
    answers.check_history(history)
    note_question(request, last.text())  # a refusal from here on is worded in its language
    answer = await answers.begin(
        principal,
        last.text(),
        history,
        body.filters.to_domain(),
        endpoint=ENDPOINT,
        # A Traditional answer in the reader's character forms (Hong Kong's or Taiwan's).
        options=replace(
            body.generation_options(),
            hong_kong_forms=language_of(request) == i18n.HONG_KONG,
        ),
    )

    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if not body.stream:
        final: Final | None = None
        error: str | None = None
        try:
            finished, final = await unless_disconnected(request, answer.final())
        except ZhikuError as exc:
            error = str(exc)
            raise
        finally:
            await answer.finish(final, error)  # no final, no error: audited as "cancelled"
        if not finished or final is None:
            return Response(status_code=499)  # nobody is listening; nginx's "client closed"
        footer = sources_footer(final.citations, final.language)
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
                            "content": final.answer + footer,
                        },
                        "finish_reason": final.finish_reason or "stop",
                    }
                ],
                "usage": usage_of(final),
                "citations": final.citations,
            }
        )

    include_usage = body.include_usage()
    language = language_of(request)

    def chunk(delta: dict[str, Any] | None, finish: str | None = None, **extra: Any) -> str:
        payload: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": MODEL,
            "choices": []
            if delta is None
            else [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        if include_usage:  # OpenAI's form: null on every chunk but the last
            payload["usage"] = None
        payload.update(extra)
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
            footer = sources_footer(final.citations, final.language)
            if footer:
                yield chunk({"content": footer})
            yield chunk({}, final.finish_reason or "stop", citations=final.citations)
            if include_usage:
                yield chunk(None, usage=usage_of(final))
            yield "data: [DONE]\n\n"
        except Exception as exc:  # a ZhikuError, or saving the record failed: still a word
            status, detail = stream_failure(exc)
            if isinstance(exc, ZhikuError):
                error = str(exc)
            else:  # the record keeps no driver's text
                log.exception("chat completion stream failed")
                error = f"{type(exc).__name__}: {detail}"
            failure = error_body(status, localize(detail, language) or detail)
            yield f"data: {json.dumps(failure, ensure_ascii=False)}\n\n"
        finally:
            await finish_logged(answer, final, error)

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"}
    )
