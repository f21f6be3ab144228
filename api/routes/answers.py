"""/v1/answers/{answer_id}/feedback: the asker's thumbs up or down on an answer.

Only the user who asked may vote (anyone else's answer is simply not found); a new vote
replaces the previous one, so sending the same vote twice changes nothing. Auditors read the
votes in the answer records (``/v1/audit/answers``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path
from fastapi.concurrency import run_in_threadpool

from api.deps import Conversations, CurrentPrincipal
from api.errors import GUARDED, error_responses
from services.schemas.bounds import ID_PATTERN, MAX_ID_CHARS
from services.schemas.chat import FeedbackBody, FeedbackPublic

router = APIRouter(prefix="/v1/answers", tags=["chat"], responses=GUARDED)

AnswerId = Annotated[str, Path(min_length=1, max_length=MAX_ID_CHARS, pattern=ID_PATTERN)]


@router.post(
    "/{answer_id}/feedback",
    response_model=FeedbackPublic,
    operation_id="answers-feedback",
    responses=error_responses(400, 404),
)
async def answer_feedback(
    conversations: Conversations,
    principal: CurrentPrincipal,
    answer_id: AnswerId,
    body: FeedbackBody,
) -> FeedbackPublic:
    """Vote on one of your own answers (``answer_id`` from the ``done`` event, or a message's
    ``answer_id``): ``up`` or ``down``, with an optional comment. Idempotent."""
    return await run_in_threadpool(
        conversations.feedback, principal, answer_id, body.rating, body.comment
    )
