"""/v1/conversations: a user's own chat history. Another user's id is simply not found."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.chat_schemas import (
    Citation,
    ConversationDetail,
    ConversationPublic,
    ConversationsPublic,
    MessagePublic,
)
from api.deps import CurrentPrincipal, StateDep
from core.db import conversations as queries
from core.db.models import Conversation, Message
from core.db.session import transaction

router = APIRouter(prefix="/v1/conversations", tags=["chat"])


def to_public(conversation: Conversation) -> ConversationPublic:
    return ConversationPublic(
        id=conversation.id,
        title=conversation.title,
        created_at=conversation.created_at,
        updated_at=conversation.updated_at,
    )


def message_public(message: Message) -> MessagePublic:
    return MessagePublic(
        id=message.id,
        role=message.role,
        content=message.content,
        citations=[Citation.model_validate(c) for c in message.citations or []],
        created_at=message.created_at,
    )


@router.get("", response_model=ConversationsPublic, operation_id="conversations-list")
def list_conversations(
    state: StateDep,
    principal: CurrentPrincipal,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ConversationsPublic:
    with transaction(state.services.sessions) as session:
        rows, total = queries.list_conversations(session, principal, offset, limit)
        return ConversationsPublic(
            data=[to_public(c) for c in rows], count=total, offset=offset, limit=limit
        )


@router.get(
    "/{conversation_id}", response_model=ConversationDetail, operation_id="conversations-get"
)
def get_conversation(
    state: StateDep, principal: CurrentPrincipal, conversation_id: str
) -> ConversationDetail:
    with transaction(state.services.sessions) as session:
        conversation = queries.owned_conversation(session, principal, conversation_id)
        messages = queries.messages(session, conversation)
        return ConversationDetail(
            **to_public(conversation).model_dump(),
            messages=[message_public(m) for m in messages],
        )


@router.delete(
    "/{conversation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="conversations-delete",
)
def delete_conversation(
    state: StateDep, principal: CurrentPrincipal, conversation_id: str
) -> Response:
    with transaction(state.services.sessions) as session:
        queries.delete_conversation(session, principal, conversation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
