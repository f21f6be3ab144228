"""/v1/documents: upload, list, inspect, change access, delete."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Query, Response, UploadFile, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from api.deps import CurrentPrincipal, StateDep
from api.schemas import AccessSpec, DocumentPublic, DocumentsPublic, UploadError, UploadResult
from api.services import documents as service
from core.db import documents as doc_queries
from core.db.models import DocumentStatus
from core.db.session import transaction
from core.errors import InvalidInput

router = APIRouter(prefix="/v1/documents", tags=["documents"])


def _parse_access(raw: str | None) -> AccessSpec | None:
    if raw is None or not raw.strip():
        return None
    try:
        return AccessSpec.model_validate(json.loads(raw))
    except (json.JSONDecodeError, ValidationError) as exc:
        raise InvalidInput(
            'access must be JSON like {"users": [...], "groups": [...], "everyone": false}'
        ) from exc


def _parse_tags(raw: str | None) -> list[str]:
    if not raw:
        return []
    tags = [t.strip() for t in raw.split(",") if t.strip()]
    if any(len(t) > 100 for t in tags) or len(tags) > 50:
        raise InvalidInput("at most 50 tags of at most 100 characters")
    return tags


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=UploadResult,
    operation_id="documents-upload",
    responses={400: {}, 413: {}, 415: {}},
)
async def upload_documents(
    state: StateDep,
    principal: CurrentPrincipal,
    files: Annotated[list[UploadFile], File(description="One or more files")],
    access: Annotated[str | None, Form(description="JSON access list; default: only you")] = None,
    tags: Annotated[str | None, Form(description="Comma-separated tags")] = None,
) -> UploadResult | JSONResponse:
    limits = state.settings.limits
    if len(files) > limits.max_files_per_upload:
        raise InvalidInput(f"at most {limits.max_files_per_upload} files per upload")
    spec = _parse_access(access)
    # Database, blob and hashing work is blocking: keep it off the event loop.
    tokens = await run_in_threadpool(service.resolve_access, state, principal, spec)
    tag_list = _parse_tags(tags)
    accepted: list[DocumentPublic] = []
    errors: list[UploadError] = []
    for upload in files:
        # Read one byte past the limit: enough to know it is too big, never the whole file.
        data = await upload.read(limits.max_upload_bytes + 1)
        incoming = service.IncomingFile(upload.filename or "", data)
        try:
            clean, mime = await run_in_threadpool(service.check_file, state, incoming)
            accepted.append(
                await run_in_threadpool(
                    service.store_upload, state, principal, incoming, clean, mime, tokens, tag_list
                )
            )
        except service.UploadRejected as exc:
            errors.append(
                UploadError(
                    filename=incoming.filename, status_code=exc.status_code, detail=str(exc)
                )
            )
    if not accepted:
        first = errors[0]
        return JSONResponse(
            {"detail": first.detail, "errors": [e.model_dump() for e in errors]},
            status_code=first.status_code,
        )
    return UploadResult(data=accepted, errors=errors)


@router.get("", response_model=DocumentsPublic, operation_id="documents-list")
def list_documents(
    state: StateDep,
    principal: CurrentPrincipal,
    status_filter: Annotated[DocumentStatus | None, Query(alias="status")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DocumentsPublic:
    with transaction(state.services.sessions) as session:
        rows, total = doc_queries.list_documents(
            session, principal, status=status_filter, offset=offset, limit=limit
        )
        data = [service.to_public(d) for d in rows]
    return DocumentsPublic(data=data, count=total, offset=offset, limit=limit)


@router.get("/{doc_id}", response_model=DocumentPublic, operation_id="documents-get")
def get_document(state: StateDep, principal: CurrentPrincipal, doc_id: str) -> DocumentPublic:
    with transaction(state.services.sessions) as session:
        return service.to_public(doc_queries.readable_document(session, principal, doc_id))


@router.post(
    "/{doc_id}/versions",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DocumentPublic,
    operation_id="documents-new-version",
    responses={400: {}, 413: {}, 415: {}},
)
async def upload_new_version(
    state: StateDep,
    principal: CurrentPrincipal,
    doc_id: str,
    file: Annotated[UploadFile, File(description="The new content")],
) -> DocumentPublic:
    data = await file.read(state.settings.limits.max_upload_bytes + 1)
    incoming = service.IncomingFile(file.filename or "", data)
    try:
        return await run_in_threadpool(service.new_version, state, principal, doc_id, incoming)
    except service.UploadRejected as exc:
        raise HTTPException(exc.status_code, str(exc)) from exc


@router.patch(
    "/{doc_id}/access", response_model=DocumentPublic, operation_id="documents-set-access"
)
def set_access(
    state: StateDep, principal: CurrentPrincipal, doc_id: str, spec: AccessSpec
) -> DocumentPublic:
    return service.change_access(state, principal, doc_id, spec)


@router.delete("/{doc_id}", status_code=status.HTTP_204_NO_CONTENT, operation_id="documents-delete")
def delete_document(state: StateDep, principal: CurrentPrincipal, doc_id: str) -> Response:
    service.delete(state, principal, doc_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
