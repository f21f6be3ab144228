"""/v1/search: ranked chunks the caller may read."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from api.deps import CurrentPrincipal, Search
from api.errors import GUARDED
from services.schemas.search import SearchRequestBody, SearchResponse

router = APIRouter(prefix="/v1/search", tags=["search"], responses=GUARDED)


@router.post("", response_model=SearchResponse, operation_id="search")
async def search(
    service: Search, principal: CurrentPrincipal, body: SearchRequestBody
) -> SearchResponse:
    # Embedding the query and the engine call block: keep them off the event loop.
    return await run_in_threadpool(service.search, principal, body)
