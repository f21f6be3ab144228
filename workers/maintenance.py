"""The periodic clean-up: documents stuck past their time limit queued again (the sweeper's
``sweep_once``), files and vectors whose document is gone removed.

What leaves orphans behind: a process that dies between deleting a document's row and its
files (``services.documents.delete`` removes the files after the commit), an upload whose
transaction fails after its file was written, a run that wrote chunks for a document deleted
meanwhile. The database is the record: a file or a vector whose document has no row is an
orphan, with one exception the grace period covers. An upload writes its file *before* its row
commits (``DocumentService.upload``, ``_keep_original``), so a young file without a row may be
an upload in flight: files are removed only when the newest file of their document is older than
``orphan_grace_s``, and vectors only when their document has no such young file either. A
document id is never reused, so a row that is gone stays gone: nothing removed comes back.

Celery beat sends ``zhiku.maintenance.run`` every ``interval_s`` (``zhiku beat``); the embedded
default runs the same from its in-process sweeper.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from core.blobs import BlobStore, document_prefix
from core.db import documents as doc_queries
from core.db.session import SessionFactory
from core.dispatch import Dispatcher
from core.errors import NotFound
from core.settings import WorkerSettings
from core.settings_maintenance import MaintenanceSettings
from index.store import VectorStore
from workers.sweeper import sweep_once

log = logging.getLogger(__name__)

# Document ids per database query.
_BATCH = 500


@dataclass(frozen=True)
class Cleanup:
    requeued: int = 0
    orphan_files: int = 0  # documents whose files were removed
    orphan_vectors: int = 0  # documents whose vectors were removed
    young_kept: int = 0  # row-less documents left alone: their files are in the grace period


def orphan_documents(
    sessions: SessionFactory, keys: Iterable[tuple[str, str]]
) -> set[tuple[str, str]]:
    """Those of the (tenant, document) pairs that have no document row."""
    pairs = sorted(set(keys))
    missing: set[tuple[str, str]] = set()
    for start in range(0, len(pairs), _BATCH):
        batch = pairs[start : start + _BATCH]
        with sessions() as session:
            rows = doc_queries.load_documents(session, [doc for _, doc in batch])
        missing.update(
            (tenant, doc)
            for tenant, doc in batch
            if doc not in rows or rows[doc].tenant_id != tenant
        )
    return missing


def newest_files(blobs: BlobStore) -> dict[tuple[str, str], datetime]:
    """Each document's (tenant, document) newest file time, from its keys' first two parts."""
    newest: dict[tuple[str, str], datetime] = defaultdict(lambda: datetime.min.replace(tzinfo=UTC))
    for info in blobs.list():
        parts = info.key.split("/")
        if len(parts) < 3:
            continue  # not a document's file (``tenant/doc/...``): not ours to judge
        pair = (parts[0], parts[1])
        newest[pair] = max(newest[pair], info.modified)
    return dict(newest)


def remove_orphans(
    sessions: SessionFactory,
    blobs: BlobStore,
    store: VectorStore | None,
    grace: timedelta,
    now: datetime | None = None,
) -> Cleanup:
    """Remove the files and vectors of documents with no row (see the module's note).
    ``store`` None: files only (this process may not open the vector store)."""
    cutoff = (now or datetime.now(UTC)) - grace
    files = newest_files(blobs)
    young = {pair for pair, when in files.items() if when >= cutoff}
    in_store: set[tuple[str, str]] = set()
    if store is not None:
        try:
            in_store = store.document_ids()
        except NotFound:
            in_store = set()  # no collection yet: nothing indexed
    orphans = orphan_documents(sessions, set(files) | in_store)
    removed_files = removed_vectors = 0
    for tenant, doc in sorted(orphans - young):
        if (tenant, doc) in in_store and store is not None:
            store.delete_document(tenant, doc)
            removed_vectors += 1
        if (tenant, doc) in files:
            blobs.delete_prefix(document_prefix(tenant, doc))
            removed_files += 1
        log.info("removed the orphaned files/vectors of document %s/%s", tenant, doc)
    kept = len(orphans & young)
    if kept:
        log.info("%d row-less documents kept: their files are younger than the grace", kept)
    return Cleanup(0, removed_files, removed_vectors, kept)


def run_maintenance(
    sessions: SessionFactory,
    dispatcher: Dispatcher,
    worker_settings: WorkerSettings,
    settings: MaintenanceSettings,
    blobs: BlobStore,
    store: Callable[[], VectorStore] | None,
) -> Cleanup:
    """One pass: stuck documents queued again, then orphans removed (when enabled).
    ``store``: how to reach the vector store, None where this process may not."""
    requeued = sweep_once(sessions, dispatcher, worker_settings)
    if not settings.remove_orphans:
        return Cleanup(requeued=requeued)
    cleanup = remove_orphans(
        sessions,
        blobs,
        store() if store is not None else None,
        timedelta(seconds=settings.orphan_grace_s),
    )
    return Cleanup(requeued, cleanup.orphan_files, cleanup.orphan_vectors, cleanup.young_kept)
