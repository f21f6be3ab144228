"""/v1/admin/index: re-index with the configured embedding model, and follow its progress.

The index is shared by every tenant; an admin of any tenant may start the re-index (the
operator's ``zhiku admin reindex`` calls this route when the server holds the index), and the
start is recorded in every tenant's audit log. It re-embeds with the model the server's own
configuration names: no model is named in the request, so no request can make the server load
files of its choosing. One at a time: a second start while one runs is a 409.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel

from api.deps import AdminPrincipal, require_admin
from api.errors import GUARDED, error_responses
from core.errors import Component, Outage, UpstreamUnavailable
from services.reindex import ReindexService, ReindexStatus

router = APIRouter(
    prefix="/v1/admin/index",
    tags=["admin"],
    dependencies=[Depends(require_admin)],
    responses=GUARDED,
)


class ReindexStatusPublic(BaseModel):
    state: str
    phase: str
    generation: int
    model: str
    # The vector layout the new generation is built in (``ZHIKU_EMBEDDING__VECTOR_LAYOUT``).
    layout: str
    done: int
    total: int
    passes: int
    embedded: int
    started_at: float | None
    finished_at: float | None
    error: str | None


def _service(request: Request) -> ReindexService:
    service = getattr(request.app.state.runtime, "reindex", None)
    if not isinstance(service, ReindexService):
        raise UpstreamUnavailable(
            "re-indexing is not available in this process",
            component=Component.VECTOR_STORE,
            outage=Outage.NOT_CONFIGURED,
        )
    return service


def _public(state: ReindexStatus) -> ReindexStatusPublic:
    return ReindexStatusPublic(**state.public())


@router.post(
    "/reindex",
    response_model=ReindexStatusPublic,
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="admin-index-reindex",
    responses=error_responses(403, 409),
)
def start_reindex(request: Request, principal: AdminPrincipal) -> ReindexStatusPublic:
    """Start building the index again with the configured model; 409 while one runs."""
    service = _service(request)
    return _public(service.start((principal.tenant_id, principal.user_id)))


@router.get(
    "/reindex",
    response_model=ReindexStatusPublic,
    operation_id="admin-index-reindex-status",
    responses=error_responses(403),
)
def reindex_status(request: Request) -> ReindexStatusPublic:
    """The running (or last) re-index: its phase and how many chunks it has embedded."""
    return _public(_service(request).status())
