"""The documents page (``/documents``): upload (files and folders), live progress, status,
access, versions, delete.

The page is a shell: its script (``static/js/documents.js``) reads and changes documents
through the same JSON API integrators use (``/v1/documents``, ``/v1/directory``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.web.pages import signed_in_page
from core.file_types import FORMAT_MIME_TYPES

router = APIRouter(include_in_schema=False)

# Files per upload request and bytes per request the page aims for: a big folder goes up in
# many small requests, a few at a time, each well inside the server's own limits.
BATCH_FILES = 8
BATCH_BYTES = 16 * 1024 * 1024
PAGE_SIZE = 25


@router.get("/documents")
async def documents_page(request: Request) -> Response:
    limits = request.app.state.runtime.services.documents.limits
    return await signed_in_page(
        request,
        "documents/index.html",
        formats=sorted(FORMAT_MIME_TYPES),
        upload_config={
            "batchFiles": min(BATCH_FILES, limits.max_files_per_upload),
            "batchBytes": BATCH_BYTES,
            "maxFileBytes": limits.max_upload_bytes,
            "pageSize": PAGE_SIZE,
            "mimeTypes": FORMAT_MIME_TYPES,
        },
    )
