"""/v1/search: ranked chunks the caller may read."""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Request

from api.deps import CurrentPrincipal, Search
from api.errors import GUARDED
from api.search_slots import search_slots
from services.schemas.search import SearchRequestBody, SearchResponse

router = APIRouter(prefix="/v1/search", tags=["search"], responses=GUARDED)


@router.post("", response_model=SearchResponse, operation_id="search")
async def search(
    request: Request, service: Search, principal: CurrentPrincipal, body: SearchRequestBody
) -> SearchResponse:
    # Embedding the query and the engine call block: off the event loop, a few at a time;
    # the wait for the audit row's commit holds no slot.
    found = await anyio.to_thread.run_sync(
        service.find, principal, body, limiter=search_slots(request)
    )
    return await anyio.to_thread.run_sync(service.record, principal, body, found)
