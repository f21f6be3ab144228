"""Chat: the request body of /v1/chat, citations, answers and conversations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

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


# What a client may show of a source before the answer arrives, and of a cited passage.
MAX_SOURCE_EXCERPT_CHARS = 1200
MAX_SURROUNDING_CHARS = 600
MAX_FEEDBACK_COMMENT_CHARS = 1000

FeedbackComment = Annotated[
    str,
    StringConstraints(max_length=MAX_FEEDBACK_COMMENT_CHARS),
    BeforeValidator(tidy_paragraphs),
    AfterValidator(reject_control_characters),
]


class ChatRequestBody(BaseModel):
    # An unknown field is a client's mistake ("filter", "conversation"): refused, not ignored.
    model_config = ConfigDict(extra="forbid")

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


class Source(BaseModel):
    """A passage the model reads, as the ``sources`` event sends it (before the first token):
    ``number`` is what the answer cites as [n]; ``excerpt`` is the passage's text, cut to
    ``MAX_SOURCE_EXCERPT_CHARS``."""

    number: int
    document_id: str
    version: int
    title: str
    filename: str
    page: int | None
    page_end: int | None
    section: list[str]
    chunk_ids: list[str]
    excerpt: str
    truncated: bool


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
    # The passages the model read (what the ``sources`` event carries when streaming).
    sources: list[Source] = Field(default_factory=list)


class MessagePublic(BaseModel):
    id: str
    role: str
    content: str
    citations: list[Citation]
    created_at: datetime
    # An assistant message's audit record (for feedback) and the asker's vote on it.
    answer_id: str | None = None
    feedback: Literal["up", "down"] | None = None
    # An answer the asker stopped (or left) before it was done: ``content`` is what was shown.
    stopped: bool = False


class ConversationPublic(BaseModel):
    id: str
    title: str
    created_at: datetime
    updated_at: datetime
    # Its latest answer was stopped before it was done.
    stopped: bool = False


class ConversationDetail(ConversationPublic):
    messages: list[MessagePublic]


class ConversationsPublic(BaseModel):
    data: list[ConversationPublic]
    count: int
    offset: int
    limit: int


class PassagePublic(BaseModel):
    """One chunk of a document the caller may read, with the text around it."""

    document_id: str
    version: int
    title: str
    # None for an earlier version whose file name was never recorded (replaced before names
    # were kept, its audit events gone): unknown, never a made-up name.
    filename: str | None
    mime_type: str
    chunk_id: str
    position: int
    page: int | None
    page_end: int | None
    section: list[str]
    text: str
    # The end of the chunk before and the start of the one after (each cut), when they exist.
    before: str
    after: str
    # The original file of the passage's own version (``?version=N`` for one being replaced);
    # None when that version's file is no longer kept.
    file_url: str | None


class FeedbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rating: Literal["up", "down"] = Field(description="Thumbs up or down; a new vote replaces it")
    comment: FeedbackComment = Field("", description="Why, optionally")


class FeedbackPublic(BaseModel):
    answer_id: str
    rating: Literal["up", "down"]
    comment: str
    updated_at: datetime
