"""Conversations, their messages, and the answer records kept for audit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from core.access import Principal
from core.db.models import AnswerRecord, Conversation, Message, utcnow
from core.errors import InvalidInput, NotFound

# The records that hold an answer (``AnswerRecord.endpoint``): /v1/chat and the
# OpenAI-compatible /v1/chat/completions. Not "search", whose record only lists passages.
FEEDBACK_ENDPOINTS = frozenset({"chat", "chat.completions"})


def create_conversation(session: Session, principal: Principal, title: str) -> Conversation:
    conversation = Conversation(
        tenant_id=principal.tenant_id, user_id=principal.user_id, title=title[:200]
    )
    session.add(conversation)
    session.flush()
    return conversation


def owned_conversation(
    session: Session, principal: Principal, conversation_id: str
) -> Conversation:
    """The caller's own conversation; NotFound for anyone else's, so ids reveal nothing."""
    conversation = session.get(Conversation, conversation_id)
    if (
        conversation is None
        or conversation.tenant_id != principal.tenant_id
        or conversation.user_id != principal.user_id
    ):
        raise NotFound("conversation not found")
    return conversation


def list_conversations(
    session: Session, principal: Principal, offset: int = 0, limit: int = 50
) -> tuple[list[Conversation], int]:
    query = select(Conversation).where(
        Conversation.tenant_id == principal.tenant_id, Conversation.user_id == principal.user_id
    )
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = query.order_by(Conversation.updated_at.desc(), Conversation.id)
    return list(session.scalars(page.offset(offset).limit(limit))), total


def delete_conversation(session: Session, principal: Principal, conversation_id: str) -> None:
    conversation = owned_conversation(session, principal, conversation_id)
    # Explicit, so SQLite without foreign-key enforcement loses no orphans either.
    session.execute(delete(Message).where(Message.conversation_id == conversation.id))
    session.delete(conversation)


def messages(
    session: Session, conversation: Conversation, last: int | None = None
) -> list[Message]:
    """The conversation's messages in order; only the ``last`` ones when given."""
    query = select(Message).where(Message.conversation_id == conversation.id)
    if last is not None:
        newest = list(session.scalars(query.order_by(Message.seq.desc()).limit(last)))
        return newest[::-1]
    return list(session.scalars(query.order_by(Message.seq)))


def append_message(
    session: Session,
    conversation: Conversation,
    role: str,
    content: str,
    citations: Sequence[dict[str, Any]] = (),
    answer_id: str | None = None,
) -> Message:
    seq = session.scalar(
        select(func.coalesce(func.max(Message.seq), 0)).where(
            Message.conversation_id == conversation.id
        )
    )
    message = Message(
        conversation_id=conversation.id,
        seq=int(seq or 0) + 1,
        role=role,
        content=content,
        citations=list(citations),
        answer_id=answer_id,
    )
    session.add(message)
    conversation.updated_at = utcnow()
    session.flush()
    return message


def record_answer(
    session: Session, principal: Principal, *, flush: bool = True, **fields: Any
) -> AnswerRecord:
    """The audit row of one search or answer. ``flush=False``: written with the commit, for a
    caller that needs no id back, so a group commit (``core.db.group_commit``) inserts its
    rows together instead of one statement each (a failing row still fails at the commit,
    and the group retries row by row)."""
    record = AnswerRecord(tenant_id=principal.tenant_id, user_id=principal.user_id, **fields)
    session.add(record)
    if flush:
        session.flush()
    return record


def answer_records(
    session: Session,
    tenant_id: str,
    *,
    user_id: str | None = None,
    offset: int = 0,
    limit: int = 50,
) -> tuple[list[AnswerRecord], int]:
    """A tenant's audit trail, newest first (auditors see it whole, admins redacted:
    ``services.audit``)."""
    query = select(AnswerRecord).where(AnswerRecord.tenant_id == tenant_id)
    if user_id:
        query = query.where(AnswerRecord.user_id == user_id)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    page = query.order_by(AnswerRecord.created_at.desc(), AnswerRecord.id)
    return list(session.scalars(page.offset(offset).limit(limit))), total


def owned_answer(session: Session, principal: Principal, answer_id: str) -> AnswerRecord:
    """The caller's own answer record; NotFound for anyone else's (or another tenant's)."""
    record = session.get(AnswerRecord, answer_id)
    if (
        record is None
        or record.tenant_id != principal.tenant_id
        or record.user_id != principal.user_id
    ):
        raise NotFound("answer not found")
    return record


def set_feedback(
    session: Session, principal: Principal, answer_id: str, rating: str, comment: str
) -> AnswerRecord:
    """Store the asker's vote on their answer, replacing any earlier one. Only a record of an
    answer takes one: a search's record (also an ``AnswerRecord``, so that auditors read
    every retrieval in one place) has no answer to rate, and a vote on it would be counted
    with the answers' by whoever reads the votes. Anyone else's record stays not found
    first, so the refusal tells the caller nothing about records that are not theirs."""
    record = owned_answer(session, principal, answer_id)
    if record.endpoint not in FEEDBACK_ENDPOINTS:
        raise InvalidInput(
            f"feedback is for answers: this record is a {record.endpoint[:40]}, not an answer"
        )
    record.feedback = rating
    record.feedback_comment = comment or None
    record.feedback_at = utcnow()
    session.flush()
    return record


def feedback_by_answer(
    session: Session, principal: Principal, answer_ids: Sequence[str]
) -> dict[str, str]:
    """The caller's votes on these answers (those that have one), by answer id."""
    if not answer_ids:
        return {}
    rows = session.execute(
        select(AnswerRecord.id, AnswerRecord.feedback).where(
            AnswerRecord.id.in_(list(answer_ids)),
            AnswerRecord.tenant_id == principal.tenant_id,
            AnswerRecord.user_id == principal.user_id,
            AnswerRecord.feedback.is_not(None),
        )
    )
    return {answer_id: rating for answer_id, rating in rows}


def cancelled_answers(
    session: Session, principal: Principal, answer_ids: Sequence[str]
) -> set[str]:
    """Which of these answers the caller stopped (or left) before they were done."""
    if not answer_ids:
        return set()
    return set(
        session.scalars(
            select(AnswerRecord.id).where(
                AnswerRecord.id.in_(list(answer_ids)),
                AnswerRecord.tenant_id == principal.tenant_id,
                AnswerRecord.user_id == principal.user_id,
                AnswerRecord.outcome == "cancelled",
            )
        )
    )


def last_answer_stopped(
    session: Session, principal: Principal, conversation_ids: Sequence[str]
) -> set[str]:
    """Which of these conversations end in an answer that was stopped: the side list marks
    them, so a stopped question is not taken for an answered one."""
    if not conversation_ids:
        return set()
    newest = (
        select(Message.conversation_id, func.max(Message.seq).label("seq"))
        .where(Message.conversation_id.in_(list(conversation_ids)))
        .group_by(Message.conversation_id)
        .subquery()
    )
    query = (
        select(Message.conversation_id)
        .join(
            newest,
            (Message.conversation_id == newest.c.conversation_id) & (Message.seq == newest.c.seq),
        )
        .join(AnswerRecord, AnswerRecord.id == Message.answer_id)
        .where(
            AnswerRecord.tenant_id == principal.tenant_id,
            AnswerRecord.user_id == principal.user_id,
            AnswerRecord.outcome == "cancelled",
        )
    )
    return set(session.scalars(query))


def keep_stopped_turn(
    session: Session,
    principal: Principal,
    conversation_id: str,
    question: str,
    shown: str,
    answer_id: str,
) -> None:
    """A stopped answer's turn: the question and what had been shown of the answer, written
    with its audit record (whose ``outcome``, cancelled, marks the turn stopped when read)."""
    try:
        conversation = owned_conversation(session, principal, conversation_id)
    except NotFound:
        return  # deleted while the answer ran: nothing to keep it in
    append_message(session, conversation, "user", question)
    append_message(session, conversation, "assistant", shown, (), answer_id)
