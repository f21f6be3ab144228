"""/v1/documents/{id}/passages/{chunk_id} and /v1/documents/{id}/file: what an answer cites.

Both are filtered by the caller's access list: a document the caller may not read answers 404,
exactly as one that does not exist. An admin sees every document's metadata but reads its text
only where its access list names them: 403 saying so (``docs/security.md``, "Roles").
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Response
from fastapi.concurrency import run_in_threadpool

from api.deps import CurrentPrincipal, Sources
from api.errors import GUARDED, error_responses
from services.schemas.bounds import ID_PATTERN, MAX_ID_CHARS
from services.schemas.chat import PassagePublic

router = APIRouter(prefix="/v1/documents", tags=["documents"], responses=GUARDED)

DocumentId = Annotated[str, Path(min_length=1, max_length=MAX_ID_CHARS, pattern=ID_PATTERN)]
ChunkId = Annotated[str, Path(min_length=1, max_length=MAX_ID_CHARS, pattern=ID_PATTERN)]
# Shown in the browser's own viewer; anything else is downloaded, never rendered on our origin.
_INLINE_TYPES = frozenset({"application/pdf"})


@router.get(
    "/{document_id}/passages/{chunk_id}",
    response_model=PassagePublic,
    operation_id="documents-passage",
    responses=error_responses(403, 404),
)
def get_passage(
    sources: Sources, principal: CurrentPrincipal, document_id: DocumentId, chunk_id: ChunkId
) -> PassagePublic:
    """A chunk (a citation's or a search hit's ``chunk_ids``) of the version search answers
    with: the current one, or while a new version is processed (or after it failed) the one
    before it; with the end of the chunk before it and the start of the one after."""
    return sources.passage(principal, document_id, chunk_id)


@router.get(
    "/{document_id}/file",
    operation_id="documents-file",
    response_class=Response,
    responses={
        200: {"content": {"application/octet-stream": {}}, "description": "The original file"},
        **error_responses(403, 404),
    },
)
async def get_original(
    sources: Sources,
    principal: CurrentPrincipal,
    document_id: DocumentId,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Response:
    """The uploaded file of the document's current version, or of ``version``: the earlier one
    a passage is read from (its ``file_url``) while a newer one is processed or after it
    failed. PDFs open inline (append ``#page=N``); every other type is sent as a download."""
    original = await run_in_threadpool(sources.original, principal, document_id, version)
    mime = original.mime_type if original.mime_type in _INLINE_TYPES else None
    disposition = "inline" if mime else "attachment"
    ascii_name = original.filename.encode("ascii", "replace").decode().replace('"', "_")
    return Response(
        original.data,
        media_type=mime or "application/octet-stream",
        headers={
            "Content-Disposition": (
                f'{disposition}; filename="{ascii_name}"; '
                f"filename*=UTF-8''{quote(original.filename, safe='')}"
            ),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )
