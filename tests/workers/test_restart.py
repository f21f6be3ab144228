"""The embedded default picks up, at start, documents that a previous process left unfinished."""

from __future__ import annotations

import time

from core.db import documents as doc_queries
from core.db import identity
from core.db.models import DocumentStage, DocumentStatus, utcnow
from core.db.session import transaction
from tests.conftest import make_settings
from tests.live import ThreadServer
from workers.services import original_key
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
            with server.state.services.sessions() as s:
                status = doc_queries.get_document(s, doc_id).status
            if status == "ready" or time.monotonic() > deadline:
                break
            time.sleep(0.3)
    assert status == "ready"
