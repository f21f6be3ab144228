"""The audit trail's public shape."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class AnswerRecordPublic(BaseModel):
    id: str
    user_id: str
    endpoint: str
    conversation_id: str | None
    question: str
    search_query: str
    filters: dict
    retrieved: list[dict]
    cited: list[dict]
    model: str | None
    backend: str | None
    prompt_version: str | None
    outcome: str
    error: str | None
    answer: str | None
    latency_ms: int
    created_at: datetime


class AnswerRecordsPublic(BaseModel):
    data: list[AnswerRecordPublic]
    count: int
    offset: int
    limit: int
