"""/v1/search: ranked chunks the caller may read."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from api.deps import CurrentPrincipal, StateDep
from api.search_schemas import SearchRequestBody, SearchResponse
from api.services import search as service

router = APIRouter(prefix="/v1/search", tags=["search"])


@router.post("", response_model=SearchResponse, operation_id="search", responses={400: {}, 503: {}})
async def search(
    state: StateDep, principal: CurrentPrincipal, body: SearchRequestBody
) -> SearchResponse:
    # Embedding the query and the engine call block: keep them off the event loop.
    return await run_in_threadpool(service.search, state, principal, body)
