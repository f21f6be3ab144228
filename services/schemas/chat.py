"""Chat: the request body of /v1/chat, citations, answers and conversations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, StringConstraints

from services.schemas.bounds import (
    MAX_QUERY_CHARS,
    Identifier,
    reject_control_characters,
    tidy_paragraphs,
)
from services.schemas.search import SearchFilters

# A question keeps its lines (a pasted snippet), not its padding.
Question = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_QUERY_CHARS),
    BeforeValidator(tidy_paragraphs),
    AfterValidator(reject_control_characters),
]


class ChatRequestBody(BaseModel):
    message: Question = Field(description="The question, in any language")
    conversation_id: Identifier | None = Field(None, description="Continue this conversation")
    filters: SearchFilters = Field(default_factory=SearchFilters)
    stream: bool = Field(True, description="Server-Sent Events (default) or one JSON answer")


class Citation(BaseModel):
    number: int
    document_id: str
    version: int
    title: str
    filename: str
    page: int | None
    page_end: int | None
    section: list[str]
    chunk_ids: list[str]
    positions: list[int]


class ChatAnswer(BaseModel):
    conversation_id: str
    message_id: str
    answer_id: str
    answer: str
    citations: list[Citation]
    # "ok", "no_context" (nothing readable matched) or "declined" (the passages lacked it).
    outcome: str
    search_query: str
    model: str | None


class MessagePublic(BaseModel):
    id: str
    role: str
    content: str
    citations: list[Citation]
    created_at: datetime


class ConversationPublic(BaseModel):
    id: str
    title: str
    created_at: datetime
    updated_at: datetime


class ConversationDetail(ConversationPublic):
    messages: list[MessagePublic]


class ConversationsPublic(BaseModel):
    data: list[ConversationPublic]
    count: int
    offset: int
    limit: int
