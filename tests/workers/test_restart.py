"""The embedded default picks up, at start, documents that a previous process left unfinished."""

from __future__ import annotations

import time

import psutil
import pytest

from core.blobs import original_key
from core.db import documents as doc_queries
from core.db import identity
from core.db.models import DocumentStage, DocumentStatus, utcnow
from core.db.session import transaction
from services.uploads import IncomingFile
from tests.live import ThreadServer
from tests.support import make_settings
from zhiku.database import build_sessions


def test_unfinished_documents_resume_after_a_crash(tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path)
    sessions = build_sessions(settings, migrate=True)
    from core.blobs import LocalBlobStore

    blobs = LocalBlobStore(settings.blob_path)
    with transaction(sessions) as s:
        tenant = identity.create_tenant(s, "crash")
        doc = doc_queries.create_document(
            s,
            tenant_id=tenant.id,
            title="t",
            filename="t.txt",
            mime_type="text/plain",
            size_bytes=5,
            content_hash="h",
            blob_key="",
        )
        doc.access = ["everyone"]
        doc.blob_key = original_key(tenant.id, doc.id, 1)
        blobs.put(doc.blob_key, b"Left behind by a crashed process mid-parse.")
        # As a process killed mid-parse leaves it: claimed, fresh heartbeat, no worker.
        doc.status, doc.stage = DocumentStatus.PROCESSING, DocumentStage.PARSING
        doc.run_token, doc.heartbeat_at = "dead-run", utcnow()
        doc_id = doc.id
    with ThreadServer(settings) as server:
        deadline = time.monotonic() + 120
        while True:
            with server.container.sessions() as s:
                status = doc_queries.get_document(s, doc_id).status
            if status == "ready" or time.monotonic() > deadline:
                break
            time.sleep(0.3)
    assert status == "ready"


@pytest.mark.slow  # two parse child processes
def test_two_parse_workers_share_a_burst_of_uploads(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """``parsing.workers`` parse children: a burst of uploads is split between them, and
    every document ends ready."""
    settings = make_settings(tmp_path, parsing={"workers": 2})
    # Only children started here count: earlier tests in this process may keep their
    # own spawned helpers (the archive child) warm.
    earlier = {c.pid for c in psutil.Process().children()}
    sessions = build_sessions(settings, migrate=True)
    with transaction(sessions) as s:
        tenant = identity.create_tenant(s, "burst")
        principal = identity.principal_for(identity.create_user(s, tenant.id, "u", is_admin=True))
    with ThreadServer(settings) as server:
        container = server.container
        assert container.local is not None
        parse_threads = [t for t in container.local._threads if t.name.startswith("zhiku-parse")]
        assert len(parse_threads) == 2
        service = container.services.documents
        access = service.resolve_access(principal, None)
        ids = []
        for i in range(12):
            upload = IncomingFile(f"{i}.txt", f"Burst note {i} on pumps.".encode())
            # One file per upload, as twelve users at once would send them.
            ids.append(service.upload(principal, [upload], access, []).data[0].id)
        deadline = time.monotonic() + 120
        while True:
            with container.sessions() as s:
                statuses = {doc_queries.get_document(s, d).status for d in ids}
            if statuses == {"ready"} or time.monotonic() > deadline:
                break
            time.sleep(0.3)
        children = psutil.Process().children()
        parsers = [
            c for c in children if c.pid not in earlier and "spawn_main" in " ".join(c.cmdline())
        ]
    assert statuses == {"ready"}
    assert len(parsers) == 2  # both children were started: both got documents
