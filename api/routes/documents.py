"""/v1/documents: upload, list (filtered, searched), read, new version, retry, change access,
delete; /v1/directory: the names of the tenant's users and groups, to share with."""

from __future__ import annotations

from typing import Annotated

from fastapi import (
    APIRouter,
    File,
    Form,
    HTTPException,
    Path,
    Query,
    Request,
    Response,
    UploadFile,
    status,
)
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import Field, ValidationError

from api.deps import CurrentPrincipal, Documents
from api.errors import GUARDED, InvalidBody, error_responses
from api.json_keys import RepeatedName, loads_unique
from api.multipart_form import UploadRoute
from api.reasons import language_of, localize
from core.access import Principal
from core.db.models import DocumentStatus
from core.errors import InvalidInput
from services.schemas.bounds import (
    ID_PATTERN,
    MAX_ID_CHARS,
    MAX_OFFSET,
    reject_control_characters,
)
from services.schemas.documents import (
    MAX_ACCESS_IDS,
    AccessSpec,
    DirectoryPublic,
    DocumentPublic,
    DocumentsPublic,
    UploadError,
    UploadResult,
)
from services.uploads import MAX_TAG_CHARS, MAX_TAGS, IncomingFile, UploadRejected, split_tags

# UploadRoute: file names sent as filename*, and text fields that are not UTF-8 refused.
router = APIRouter(
    prefix="/v1/documents", tags=["documents"], responses=GUARDED, route_class=UploadRoute
)
directory_router = APIRouter(prefix="/v1/directory", tags=["documents"], responses=GUARDED)

DocumentId = Annotated[str, Path(min_length=1, max_length=MAX_ID_CHARS, pattern=ID_PATTERN)]
MAX_SEARCH_CHARS = 200
MAX_LISTED_IDS = 200
MAX_DIRECTORY_IDS = 100
MAX_DIRECTORY_RESULTS = 50
IdList = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS, pattern=ID_PATTERN)]],
    Field(max_length=MAX_LISTED_IDS),
]
# Room for every id of a full access list, quoted and separated; the JSON's own size bound.
MAX_ACCESS_CHARS = 2 * MAX_ACCESS_IDS * (MAX_ID_CHARS + 4) + 256
_ACCESS_SHAPE = 'access must be JSON like {"users": [...], "groups": [...], "everyone": false}'


class UploadFailure(InvalidBody):
    """Every file of an upload refused: the first one's reason, and each file's."""

    errors: list[UploadError] = Field(default_factory=list)


def _doc_in(request: Request, doc: DocumentPublic) -> DocumentPublic:
    """The document with its failure reason in the caller's language (``api.reasons``)."""
    if doc.error is None:
        return doc
    return doc.model_copy(update={"error": localize(doc.error, language_of(request))})


def _in_language(request: Request, result: UploadResult) -> UploadResult:
    language = language_of(request)
    return result.model_copy(
        update={
            "data": [_doc_in(request, d) for d in result.data],
            "errors": [
                e.model_copy(update={"detail": localize(e.detail, language)}) for e in result.errors
            ],
        }
    )


def _parse_access(raw: str | None) -> AccessSpec | None:
    if raw is None or not raw.strip():
        return None
    try:
        return AccessSpec.model_validate(loads_unique(raw))
    except RepeatedName as exc:
        raise InvalidInput(str(exc)) from None
    # RecursionError: JSON nested deeper than the parser's stack (no real list is nested).
    except (ValueError, ValidationError, RecursionError) as exc:
        raise InvalidInput(_ACCESS_SHAPE) from exc


async def _tenant_default_access(request: Request, principal: Principal) -> AccessSpec | None:
    """No access list sent: the organisation's default (services.tenant_settings)."""
    admin = request.app.state.runtime.services.admin
    chosen = await run_in_threadpool(admin.settings_in_force, principal.tenant_id)
    return AccessSpec(everyone=True) if chosen.default_access == "everyone" else None


def _parse_tags(raw: str | None) -> list[str]:
    try:
        reject_control_characters(raw or "")
    except ValueError as exc:
        raise InvalidInput(f"tags {exc}") from exc
    return split_tags(raw or "")


_UPLOAD_ERRORS: dict[int | str, dict[str, object]] = {
    **error_responses(404, 409),
    **{code: {"model": UploadFailure} for code in (400, 413, 415, 422)},
}


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=UploadResult,
    operation_id="documents-upload",
    responses=_UPLOAD_ERRORS,
)
async def upload_documents(
    request: Request,
    service: Documents,
    principal: CurrentPrincipal,
    files: Annotated[list[UploadFile], File(description="One or more files")],
    access: Annotated[
        str | None,
        Form(
            max_length=MAX_ACCESS_CHARS,
            description="JSON access list; default: the organisation's (only you, unless an"
            " admin chose everyone in /v1/admin/tenant/settings)",
        ),
    ] = None,
    tags: Annotated[
        str | None,
        Form(
            max_length=MAX_TAGS * (MAX_TAG_CHARS + 1),
            description="Comma-separated tags (, ， or 、)",
        ),
    ] = None,
) -> UploadResult | JSONResponse:
    limits = service.limits
    if len(files) > limits.max_files_per_upload:
        raise InvalidInput(f"at most {limits.max_files_per_upload} files per upload")
    spec = _parse_access(access) or await _tenant_default_access(request, principal)
    tag_list = _parse_tags(tags)
    # Read one byte past the limit: enough to know a file is too big, never the whole file.
    incoming = [
        IncomingFile(upload.filename or "", await upload.read(limits.max_upload_bytes + 1))
        for upload in files
    ]

    def store() -> UploadResult:  # database, blob and hashing work: off the event loop
        return service.upload(
            principal, incoming, service.resolve_access(principal, spec), tag_list
        )

    result = _in_language(request, await run_in_threadpool(store))
    if not result.data:
        first = result.errors[0]
        return JSONResponse(
            {"detail": first.detail, "errors": [e.model_dump() for e in result.errors]},
            status_code=first.status_code,
        )
    return result


@router.get("", response_model=DocumentsPublic, operation_id="documents-list")
def list_documents(
    request: Request,
    service: Documents,
    principal: CurrentPrincipal,
    status_filter: Annotated[DocumentStatus | None, Query(alias="status")] = None,
    q: Annotated[
        str | None,
        Query(max_length=MAX_SEARCH_CHARS, description="Part of the title or file name"),
    ] = None,
    tag: Annotated[
        str | None, Query(max_length=MAX_TAG_CHARS, description="Documents with this tag")
    ] = None,
    file_type: Annotated[
        str | None,
        Query(
            alias="type",
            max_length=120,
            pattern=r"^[a-z0-9.+/-]+$",
            description="A format key (pdf, docx, txt, ...) or a MIME type",
        ),
    ] = None,
    ids: Annotated[
        IdList | None,
        Query(alias="id", description="Only these documents (repeat the parameter)"),
    ] = None,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DocumentsPublic:
    for text in (q, tag):
        try:
            reject_control_characters(text or "")
        except ValueError as exc:
            raise InvalidInput(f"search {exc}") from exc
    found = service.list(
        principal,
        status=status_filter,
        offset=offset,
        limit=limit,
        name=q,
        tag=tag,
        file_type=file_type,
        ids=ids,
    )
    return found.model_copy(update={"data": [_doc_in(request, d) for d in found.data]})


@router.get(
    "/{doc_id}",
    response_model=DocumentPublic,
    operation_id="documents-get",
    responses=error_responses(404),
)
def get_document(
    request: Request, service: Documents, principal: CurrentPrincipal, doc_id: DocumentId
) -> DocumentPublic:
    return _doc_in(request, service.get(principal, doc_id))


@router.post(
    "/{doc_id}/versions",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DocumentPublic,
    operation_id="documents-new-version",
    responses=error_responses(400, 403, 404, 409, 413, 415, 422),
)
async def upload_new_version(
    service: Documents,
    principal: CurrentPrincipal,
    doc_id: DocumentId,
    file: Annotated[UploadFile, File(description="The new content")],
) -> DocumentPublic:
    data = await file.read(service.limits.max_upload_bytes + 1)
    incoming = IncomingFile(file.filename or "", data)
    try:
        return await run_in_threadpool(service.new_version, principal, doc_id, incoming)
    except UploadRejected as exc:
        raise HTTPException(exc.status_code, str(exc)) from exc


@router.post(
    "/{doc_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DocumentPublic,
    operation_id="documents-retry",
    responses=error_responses(403, 404, 409),
)
def retry_document(
    service: Documents, principal: CurrentPrincipal, doc_id: DocumentId
) -> DocumentPublic:
    """Process a failed document again from its stored file (its owner or an admin)."""
    return service.retry(principal, doc_id)


@router.patch(
    "/{doc_id}/access",
    response_model=DocumentPublic,
    operation_id="documents-set-access",
    responses={
        **error_responses(400, 403, 404, 409),
        202: {
            "model": DocumentPublic,
            "description": "Saved, but the search index could not take it now: search applies"
            " the previous list until it is written there (automatically, within a sweep).",
        },
    },
)
def set_access(
    service: Documents,
    principal: CurrentPrincipal,
    doc_id: DocumentId,
    spec: AccessSpec,
    response: Response,
) -> DocumentPublic:
    change = service.change_access(principal, doc_id, spec)
    if not change.in_force:
        response.status_code = status.HTTP_202_ACCEPTED
    return change.document


@router.delete(
    "/{doc_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="documents-delete",
    responses=error_responses(403, 404, 409),
)
def delete_document(
    service: Documents, principal: CurrentPrincipal, doc_id: DocumentId
) -> Response:
    service.delete(principal, doc_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@directory_router.get("", response_model=DirectoryPublic, operation_id="directory-search")
def search_directory(
    service: Documents,
    principal: CurrentPrincipal,
    q: Annotated[str, Query(max_length=MAX_SEARCH_CHARS, description="Part of a name")] = "",
    user_ids: Annotated[
        list[Annotated[str, Field(max_length=MAX_ID_CHARS, pattern=ID_PATTERN)]] | None,
        Query(alias="user", max_length=MAX_DIRECTORY_IDS, description="Names of these users"),
    ] = None,
    group_ids: Annotated[
        list[Annotated[str, Field(max_length=MAX_ID_CHARS, pattern=ID_PATTERN)]] | None,
        Query(alias="group", max_length=MAX_DIRECTORY_IDS, description="Names of these groups"),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_DIRECTORY_RESULTS)] = 20,
) -> DirectoryPublic:
    """Users (enabled) and groups of the caller's tenant whose name holds ``q``, or those
    with the ids given: whom a document can be shared with."""
    try:
        reject_control_characters(q)
    except ValueError as exc:
        raise InvalidInput(f"q {exc}") from exc
    wanted = len(user_ids or []) + len(group_ids or [])
    return service.directory(
        principal, q, user_ids, group_ids, limit=max(limit, min(wanted, MAX_DIRECTORY_IDS))
    )
