"""The audit trail's public shape: answer records (full for auditors, redacted for admins)
and audit events (who changed what)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class AnswerRecordPublic(BaseModel):
    """One search or answer. ``redacted``: the caller is an admin, not an auditor, and sees
    who asked, when, where and how it went, never what was asked, found or answered: the
    content fields are None (docs/security.md)."""

    id: str
    user_id: str
    endpoint: str
    conversation_id: str | None
    model: str | None
    backend: str | None
    prompt_version: str | None
    outcome: str
    latency_ms: int
    retrieved_count: int
    cited_count: int
    created_at: datetime
    redacted: bool
    # The asker's thumbs: "up", "down" or None (no vote), and when they last voted.
    feedback: str | None = None
    feedback_at: datetime | None = None
    # Content: auditors only.
    question: str | None = None
    search_query: str | None = None
    filters: dict[str, Any] | None = None
    retrieved: list[dict[str, Any]] | None = None
    cited: list[dict[str, Any]] | None = None
    error: str | None = None
    answer: str | None = None
    feedback_comment: str | None = None


class AnswerRecordsPublic(BaseModel):
    data: list[AnswerRecordPublic]
    count: int
    offset: int
    limit: int
    redacted: bool


class AuditEventPublic(BaseModel):
    id: str
    # None: the operator, at the command line.
    actor_id: str | None
    action: str
    target_type: str
    target_id: str
    details: dict[str, Any]
    created_at: datetime


class AuditEventsPublic(BaseModel):
    data: list[AuditEventPublic]
    count: int
    offset: int
    limit: int
