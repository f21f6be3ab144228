"""/v1/conversations: a user's own chat history. Another user's id is simply not found."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status

from api.deps import Conversations, CurrentPrincipal
from api.errors import GUARDED, error_responses
from services.schemas.bounds import ID_PATTERN, MAX_ID_CHARS, MAX_OFFSET
from services.schemas.chat import ConversationDetail, ConversationsPublic

router = APIRouter(prefix="/v1/conversations", tags=["chat"], responses=GUARDED)

ConversationId = Annotated[str, Path(min_length=1, max_length=MAX_ID_CHARS, pattern=ID_PATTERN)]


@router.get("", response_model=ConversationsPublic, operation_id="conversations-list")
def list_conversations(
    service: Conversations,
    principal: CurrentPrincipal,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> ConversationsPublic:
    return service.list(principal, offset, limit)


@router.get(
    "/{conversation_id}",
    response_model=ConversationDetail,
    operation_id="conversations-get",
    responses=error_responses(404),
)
def get_conversation(
    service: Conversations, principal: CurrentPrincipal, conversation_id: ConversationId
) -> ConversationDetail:
    return service.get(principal, conversation_id)


@router.delete(
    "/{conversation_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="conversations-delete",
    responses=error_responses(404),
)
def delete_conversation(
    service: Conversations, principal: CurrentPrincipal, conversation_id: ConversationId
) -> Response:
    service.delete(principal, conversation_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
