"""The chat page (``/chat``): conversations, streamed answers with their sources first,
citations that open the cited passage, feedback."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from api.web.pages import signed_in_page

router = APIRouter(include_in_schema=False)


@router.get("/chat")
async def chat(request: Request) -> Response:
    """The page; everything on it comes from the JSON API (``/v1/chat``, ``/v1/conversations``,
    ``/v1/documents/{id}/passages/…``, ``/v1/answers/{id}/feedback``) through ``chat.js``."""
    return await signed_in_page(request, "chat/index.html")
