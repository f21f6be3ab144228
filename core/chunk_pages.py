"""A document version's chunks, as the parse stage leaves them for the embed stage: pages of
``PAGE_CHUNKS`` chunks, one blob each (``…/v3/chunks/000012.json``), so that a run reads only
the pages its slice falls in.

One list for the whole document made every slice of a large one read and decode all of it
(about a second at 50,000 chunks), so a document of n chunks cost O(n²) in reading alone.
Pages do not depend on ``worker.embed_slice_chunks``: a slice may start anywhere
(``Document.chunks_indexed``) and the setting may change between parse and embed.

Each page is written whole (``BlobStore.put`` writes then renames) and every page before the
parse stage commits the document to embedding, in the transaction that also records the
count (``Document.chunks_total``); a parse run again rewrites the pages in place. Versions
parsed before pages existed kept one list (``chunks_key``): it is still read.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from core.blobs import BlobStore, chunks_key
from core.errors import NotFound

PAGE_CHUNKS = 256

# One chunk as ``ingest.types.Chunk`` fields (core does not import ingest).
Record = dict[str, Any]


def page_key(tenant_id: str, doc_id: str, version: int, page: int) -> str:
    return f"{tenant_id}/{doc_id}/v{version}/chunks/{page:06d}.json"


def write_chunks(
    blobs: BlobStore, tenant_id: str, doc_id: str, version: int, records: Sequence[Record]
) -> None:
    """Keep a version's chunks (in position order) as pages."""
    for page, start in enumerate(range(0, len(records), PAGE_CHUNKS)):
        data = json.dumps(list(records[start : start + PAGE_CHUNKS]), ensure_ascii=False)
        blobs.put(page_key(tenant_id, doc_id, version, page), data.encode())


def read_chunks(
    blobs: BlobStore, tenant_id: str, doc_id: str, version: int, start: int, end: int
) -> list[Record]:
    """The chunks at positions ``start`` to ``end`` (excluded) of a version, reading only
    the pages they are on. NotFound when the version's chunks are not kept (not parsed yet,
    or deleted); a range past the last chunk comes back short."""
    if end <= start:
        return []
    first, last = start // PAGE_CHUNKS, (end - 1) // PAGE_CHUNKS
    records: list[Record] = []
    for page in range(first, last + 1):
        try:
            data = blobs.get(page_key(tenant_id, doc_id, version, page))
        except NotFound:
            if not records:
                return _legacy(blobs, tenant_id, doc_id, version, start, end)
            break  # past the last page
        records.extend(json.loads(data))
    offset = first * PAGE_CHUNKS
    return records[start - offset : end - offset]


def _legacy(
    blobs: BlobStore, tenant_id: str, doc_id: str, version: int, start: int, end: int
) -> list[Record]:
    """A version parsed before pages: its one list (NotFound when it has none either)."""
    try:
        data = blobs.get(chunks_key(tenant_id, doc_id, version))
    except NotFound:
        if start > 0 and blobs.exists(page_key(tenant_id, doc_id, version, 0)):
            return []  # paged, and the range lies past its last page
        raise
    return list(json.loads(data)[start:end])


def kept_count(blobs: BlobStore, tenant_id: str, doc_id: str, version: int) -> int:
    """How many chunks of a version are kept (0: none, e.g. deleted once a newer version was
    ready), for a version whose count the database no longer holds: the previous one, which
    search still answers with while its successor is ingested or after it failed."""
    pages = 0
    while blobs.exists(page_key(tenant_id, doc_id, version, pages)):
        pages += 1
    if pages:
        last = json.loads(blobs.get(page_key(tenant_id, doc_id, version, pages - 1)))
        return (pages - 1) * PAGE_CHUNKS + len(last)
    try:
        return len(json.loads(blobs.get(chunks_key(tenant_id, doc_id, version))))
    except NotFound:
        return 0
