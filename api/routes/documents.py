"""/v1/documents: upload, list, read, new version, change access, delete."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, File, Form, HTTPException, Query, Response, UploadFile, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from api.deps import CurrentPrincipal, Documents
from core.db.models import DocumentStatus
from core.errors import InvalidInput
from services.documents import IncomingFile, UploadRejected, clean_tags
from services.schemas.documents import AccessSpec, DocumentPublic, DocumentsPublic, UploadResult

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


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=UploadResult,
    operation_id="documents-upload",
    responses={400: {}, 413: {}, 415: {}},
)
async def upload_documents(
    service: Documents,
    principal: CurrentPrincipal,
    files: Annotated[list[UploadFile], File(description="One or more files")],
    access: Annotated[str | None, Form(description="JSON access list; default: only you")] = None,
    tags: Annotated[str | None, Form(description="Comma-separated tags")] = None,
) -> UploadResult | JSONResponse:
    limits = service.limits
    if len(files) > limits.max_files_per_upload:
        raise InvalidInput(f"at most {limits.max_files_per_upload} files per upload")
    spec = _parse_access(access)
    tag_list = clean_tags((tags or "").split(","))
    # Read one byte past the limit: enough to know a file is too big, never the whole file.
    incoming = [
        IncomingFile(upload.filename or "", await upload.read(limits.max_upload_bytes + 1))
        for upload in files
    ]

    def store() -> UploadResult:  # database, blob and hashing work: off the event loop
        return service.upload(
            principal, incoming, service.resolve_access(principal, spec), tag_list
        )

    result = await run_in_threadpool(store)
    if not result.data:
        first = result.errors[0]
        return JSONResponse(
            {"detail": first.detail, "errors": [e.model_dump() for e in result.errors]},
            status_code=first.status_code,
        )
    return result


@router.get("", response_model=DocumentsPublic, operation_id="documents-list")
def list_documents(
    service: Documents,
    principal: CurrentPrincipal,
    status_filter: Annotated[DocumentStatus | None, Query(alias="status")] = None,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DocumentsPublic:
    return service.list(principal, status=status_filter, offset=offset, limit=limit)


@router.get("/{doc_id}", response_model=DocumentPublic, operation_id="documents-get")
def get_document(service: Documents, principal: CurrentPrincipal, doc_id: str) -> DocumentPublic:
    return service.get(principal, doc_id)


@router.post(
    "/{doc_id}/versions",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DocumentPublic,
    operation_id="documents-new-version",
    responses={400: {}, 413: {}, 415: {}},
)
async def upload_new_version(
    service: Documents,
    principal: CurrentPrincipal,
    doc_id: str,
    file: Annotated[UploadFile, File(description="The new content")],
) -> DocumentPublic:
    data = await file.read(service.limits.max_upload_bytes + 1)
    incoming = IncomingFile(file.filename or "", data)
    try:
        return await run_in_threadpool(service.new_version, principal, doc_id, incoming)
    except UploadRejected as exc:
        raise HTTPException(exc.status_code, str(exc)) from exc


@router.patch(
    "/{doc_id}/access", response_model=DocumentPublic, operation_id="documents-set-access"
)
def set_access(
    service: Documents, principal: CurrentPrincipal, doc_id: str, spec: AccessSpec
) -> DocumentPublic:
    return service.change_access(principal, doc_id, spec)


@router.delete("/{doc_id}", status_code=status.HTTP_204_NO_CONTENT, operation_id="documents-delete")
def delete_document(service: Documents, principal: CurrentPrincipal, doc_id: str) -> Response:
    service.delete(principal, doc_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
