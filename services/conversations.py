"""Conversations: a user's own chat history. Another user's conversation is simply not found."""

from __future__ import annotations

from core.access import Principal
from core.db import access as access_queries
from core.db import conversations as queries
from core.db.models import Conversation, Message
from core.db.session import SessionFactory, transaction
from llm.client import Message as ChatMessage
from services.schemas.chat import (
    Citation,
    ConversationDetail,
    ConversationPublic,
    ConversationsPublic,
    FeedbackPublic,
    MessagePublic,
)

TITLE_CHARS = 80


def to_public(conversation: Conversation, stopped: bool = False) -> ConversationPublic:
    return ConversationPublic(
        id=conversation.id,
        title=conversation.title,
        created_at=conversation.created_at,
        updated_at=conversation.updated_at,
        stopped=stopped,
    )


def message_public(
    message: Message,
    feedback: dict[str, str] | None = None,
    stopped: set[str] | frozenset[str] = frozenset(),
    readable: set[str] | None = None,
) -> MessagePublic:
    """``readable``: the cited documents the caller may read now; a citation of any other is
    left out (None: all kept)."""
    return MessagePublic(
        id=message.id,
        role=message.role,
        content=message.content,
        citations=[
            Citation.model_validate(c)
            for c in message.citations or []
            if readable is None or c.get("document_id") in readable
        ],
        created_at=message.created_at,
        answer_id=message.answer_id,
        feedback=(feedback or {}).get(message.answer_id or ""),  # type: ignore[arg-type]
        stopped=message.answer_id in stopped,
    )


class ConversationService:
    def __init__(self, sessions: SessionFactory, history_messages: int) -> None:
        self._sessions = sessions
        self._history_messages = history_messages

    def open(
        self, principal: Principal, conversation_id: str | None, question: str
    ) -> tuple[str, list[ChatMessage]]:
        """The conversation (the caller's own, or a new one) and its recent messages."""
        with transaction(self._sessions) as session:
            if conversation_id:
                conversation = queries.owned_conversation(session, principal, conversation_id)
            else:
                conversation = queries.create_conversation(
                    session, principal, question[:TITLE_CHARS]
                )
            history: list[ChatMessage] = [
                {"role": m.role, "content": m.content}
                for m in queries.messages(session, conversation, last=self._history_messages)
            ]
            return conversation.id, history

    def save_turn(
        self,
        principal: Principal,
        conversation_id: str,
        question: str,
        answer: str,
        citations: list[dict[str, object]],
        answer_id: str,
    ) -> str:
        """The question and the answer as two messages; returns the answer message's id."""
        with transaction(self._sessions) as session:
            conversation = queries.owned_conversation(session, principal, conversation_id)
            queries.append_message(session, conversation, "user", question)
            message = queries.append_message(
                session, conversation, "assistant", answer, citations, answer_id
            )
            return message.id

    def list(self, principal: Principal, offset: int, limit: int) -> ConversationsPublic:
        with transaction(self._sessions) as session:
            rows, total = queries.list_conversations(session, principal, offset, limit)
            stopped = queries.last_answer_stopped(session, principal, [c.id for c in rows])
            return ConversationsPublic(
                data=[to_public(c, c.id in stopped) for c in rows],
                count=total,
                offset=offset,
                limit=limit,
            )

    def get(self, principal: Principal, conversation_id: str) -> ConversationDetail:
        with transaction(self._sessions) as session:
            conversation = queries.owned_conversation(session, principal, conversation_id)
            messages = queries.messages(session, conversation)
            answer_ids = [m.answer_id for m in messages if m.answer_id]
            votes = queries.feedback_by_answer(session, principal, answer_ids)
            stopped = queries.cancelled_answers(session, principal, answer_ids)
            # A citation names its document (id, title, file name): only one the caller may
            # still read. Its access withdrawn, or the document deleted, since the answer,
            # the history kept showing it; the answer's own words are the caller's to keep.
            cited = [str(c.get("document_id")) for m in messages for c in m.citations or []]
            readable = access_queries.readable_ids(session, principal, cited)
            last = messages[-1].answer_id if messages else None
            return ConversationDetail(
                **to_public(conversation, last in stopped).model_dump(),
                messages=[message_public(m, votes, stopped, readable) for m in messages],
            )

    def delete(self, principal: Principal, conversation_id: str) -> None:
        with transaction(self._sessions) as session:
            queries.delete_conversation(session, principal, conversation_id)

    def feedback(
        self, principal: Principal, answer_id: str, rating: str, comment: str
    ) -> FeedbackPublic:
        """The asker's thumbs on their own answer; a later vote replaces the earlier one."""
        with transaction(self._sessions) as session:
            record = queries.set_feedback(session, principal, answer_id, rating, comment)
            assert record.feedback_at is not None
            return FeedbackPublic(
                answer_id=record.id,
                rating=rating,  # type: ignore[arg-type]
                comment=record.feedback_comment or "",
                updated_at=record.feedback_at,
            )
