"""The periodic clean-up on real parts: a SQLite database, the embedded Qdrant engine, the
local folder and an S3 server; the re-queue through a real Redis broker."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis
from sqlalchemy import update

from core.access import Principal
from core.blobs import BlobStore, LocalBlobStore, chunks_key, original_key
from core.db import identity
from core.db.models import Document, DocumentStage, DocumentStatus
from core.db.session import SessionFactory, transaction
from core.settings import QdrantSettings
from core.settings_maintenance import MaintenanceSettings
from index.qdrant_embedded import EmbeddedQdrantStore
from index.qdrant_server import QdrantServerStore
from index.store import Scope, VectorStore
from tests.index.contract.common import DIM, point
from tests.s3_server import S3Server
from tests.support import REDIS_URL, make_settings
from tests.workers.helpers import new_doc
from workers.celery_app import create_celery
from workers.dispatch import CeleryDispatcher
from workers.maintenance import remove_orphans, run_maintenance
from workers.parse_stage import SMALL_FILE_BYTES
from workers.queues import MAINTENANCE_QUEUE, MAINTENANCE_TASK, PARSE_QUEUE, PARSE_SMALL_QUEUE
from zhiku.database import build_sessions

GRACE = timedelta(hours=1)


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with S3Server() as server:
        yield server


@pytest.fixture(params=["local", "s3"])
def blobs(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    from core.blobs_s3 import S3BlobStore

    return S3BlobStore.from_settings(request.getfixturevalue("s3").settings())


@pytest.fixture
def sessions(tmp_path: Path) -> SessionFactory:
    return build_sessions(make_settings(tmp_path), migrate=True)


@pytest.fixture(params=["embedded", "server"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    """The embedded engine, and the server backend over qdrant-client's in-process stand-in
    (no Qdrant server installs here)."""
    if request.param == "server":
        opened: VectorStore = QdrantServerStore.from_settings(QdrantSettings(url=":memory:"))
    else:
        opened = EmbeddedQdrantStore(tmp_path / "qdrant")
    opened.ensure_collection(DIM)
    yield opened
    opened.close()


def _principal(sessions: SessionFactory) -> Principal:
    with transaction(sessions) as s:
        tenant = identity.create_tenant(s, f"t-{uuid.uuid4().hex[:6]}")
        user = identity.create_user(s, tenant.id, "ann")
        return Principal(tenant_id=tenant.id, user_id=user.id)


def _later(hours: float) -> datetime:
    """The clock a sweep sees so that files written now are ``hours`` old."""
    return datetime.now(UTC) + timedelta(hours=hours)


def test_orphans_go_live_documents_and_young_uploads_stay(
    sessions: SessionFactory, store: VectorStore, blobs: BlobStore, tmp_path: Path
) -> None:
    ann = _principal(sessions)
    tenant = ann.tenant_id
    svc = SimpleNamespace(sessions=sessions, blobs=blobs)
    live = new_doc(svc, ann, "仍在使用的文件 still in use")  # type: ignore[arg-type]
    blobs.put(chunks_key(tenant, live, 1), b"[]")
    store.upsert([point(tenant, live, n) for n in range(3)])
    # A document deleted by a process that died before removing its files and vectors.
    gone = str(uuid.uuid4())
    blobs.put(original_key(tenant, gone, 1), "已删除 已刪除 deleted".encode())
    store.upsert([point(tenant, gone, n) for n in range(2)])
    # Vectors alone (a run that wrote chunks for a document deleted meanwhile).
    ghost = str(uuid.uuid4())
    store.upsert([point(tenant, ghost, 0)])

    # Now: the row-less files are young (an upload in flight looks just like this).
    first = remove_orphans(sessions, blobs, store, GRACE)
    assert (first.orphan_files, first.orphan_vectors, first.young_kept) == (0, 1, 1)
    assert blobs.exists(original_key(tenant, gone, 1))
    assert store.count(Scope.admin(tenant)) == 5  # ghost's one vector went, gone's two stay
    assert (tenant, ghost) not in store.document_ids()

    # Two hours on: past the grace, gone's files and vectors are removed; live is untouched.
    later = remove_orphans(sessions, blobs, store, GRACE, now=_later(2))
    assert (later.orphan_files, later.orphan_vectors, later.young_kept) == (1, 1, 0)
    assert not blobs.exists(original_key(tenant, gone, 1))
    assert store.document_ids() == {(tenant, live)}
    assert blobs.exists(original_key(tenant, live, 1))
    assert blobs.exists(chunks_key(tenant, live, 1))
    assert len(store.document_chunks(Scope.admin(tenant), live)) == 3
    # A second pass finds nothing more.
    again = remove_orphans(sessions, blobs, store, GRACE, now=_later(2))
    assert (again.orphan_files, again.orphan_vectors) == (0, 0)


def test_an_upload_whose_row_commits_late_keeps_its_file(
    sessions: SessionFactory, blobs: BlobStore, tmp_path: Path
) -> None:
    """The file is written first, the sweep runs, then the row commits: nothing is lost."""
    ann = _principal(sessions)
    doc_id = str(uuid.uuid4())
    blobs.put(original_key(ann.tenant_id, doc_id, 1), b"in flight")
    assert remove_orphans(sessions, blobs, None, GRACE).young_kept == 1
    with transaction(sessions) as s:
        from core.db import documents as doc_queries

        doc_queries.create_document(
            s, id=doc_id, tenant_id=ann.tenant_id, owner_id=ann.user_id, title="t",
            filename="t.txt", mime_type="text/plain", size_bytes=9, content_hash="h",
            blob_key=original_key(ann.tenant_id, doc_id, 1),
        )  # fmt: skip
    later = remove_orphans(sessions, blobs, None, GRACE, now=_later(5))
    assert later.orphan_files == 0
    assert blobs.get(original_key(ann.tenant_id, doc_id, 1)) == b"in flight"


def test_maintenance_requeues_a_stuck_document_through_the_broker(
    tmp_path: Path, sessions: SessionFactory
) -> None:
    """Each to the parse queue its size says: a stuck memo to the small-file queue, a stuck
    large file (by its bytes: Chinese text is three a character) to the large files'."""
    settings = make_settings(tmp_path, redis_url=REDIS_URL)
    broker = redis.Redis.from_url(REDIS_URL)
    broker.delete(PARSE_QUEUE, PARSE_SMALL_QUEUE)
    ann = _principal(sessions)
    blobs = LocalBlobStore(tmp_path / "blobs")
    world = SimpleNamespace(sessions=sessions, blobs=blobs)
    memo = new_doc(world, ann, "stuck memo: 卡住的备忘录")  # type: ignore[arg-type]
    large_text = "卡住的大文件。" * 4000  # 28,000 characters, 84,000 bytes
    assert len(large_text) < SMALL_FILE_BYTES < len(large_text.encode())
    large = new_doc(world, ann, large_text)  # type: ignore[arg-type]
    long_ago = datetime.now(UTC) - timedelta(hours=2)
    with transaction(sessions) as s:
        s.execute(
            update(Document)
            .where(Document.id.in_([memo, large]))
            .values(
                status=DocumentStatus.PROCESSING,
                stage=DocumentStage.PARSING,
                heartbeat_at=long_ago,
                updated_at=long_ago,
            )
        )
    done = run_maintenance(
        sessions,
        CeleryDispatcher(settings),
        settings.worker,
        MaintenanceSettings(),
        blobs,
        None,
    )
    assert done.requeued == 2
    # Each parse message on its real queue.
    assert broker.llen(PARSE_SMALL_QUEUE) == 1 and broker.llen(PARSE_QUEUE) == 1
    assert memo.encode() in broker.lindex(PARSE_SMALL_QUEUE, 0)
    assert large.encode() in broker.lindex(PARSE_QUEUE, 0)
    broker.delete(PARSE_QUEUE, PARSE_SMALL_QUEUE)


def test_beat_sends_the_clean_up_to_the_maintenance_queue(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, redis_url=REDIS_URL, maintenance={"interval_s": 900})
    entry = create_celery(settings).conf.beat_schedule["zhiku-maintenance"]
    assert entry["task"] == MAINTENANCE_TASK
    assert entry["schedule"] == 900.0
    assert entry["options"]["queue"] == MAINTENANCE_QUEUE
    from zhiku.worker import app

    assert MAINTENANCE_TASK in app.tasks


def test_the_grace_cannot_be_set_below_ten_minutes() -> None:
    with pytest.raises(ValueError, match="ORPHAN_GRACE_S"):
        MaintenanceSettings(orphan_grace_s=60)


def test_files_of_documents_in_another_tenant_are_judged_by_tenant(
    sessions: SessionFactory, tmp_path: Path
) -> None:
    """A key whose document id exists, but in another tenant, is still an orphan."""
    ann, zed = _principal(sessions), _principal(sessions)
    blobs = LocalBlobStore(tmp_path / "blobs")
    doc_id = new_doc(SimpleNamespace(sessions=sessions, blobs=blobs), ann, "x")  # type: ignore[arg-type]
    blobs.put(original_key(zed.tenant_id, doc_id, 1), b"misplaced")
    os.utime(blobs.root / original_key(zed.tenant_id, doc_id, 1), (time.time() - 7200,) * 2)
    done = remove_orphans(sessions, blobs, None, GRACE)
    assert done.orphan_files == 1
    assert blobs.exists(original_key(ann.tenant_id, doc_id, 1))
    assert not blobs.exists(original_key(zed.tenant_id, doc_id, 1))


def test_zhiku_beat_sends_the_task_on_its_interval(tmp_path: Path) -> None:
    """The production shape: ``zhiku beat`` (a real Celery beat process) puts the clean-up
    on the maintenance queue of the real broker every interval."""
    from tests.live import process, zhiku_env

    broker = redis.Redis.from_url(REDIS_URL)
    broker.delete(MAINTENANCE_QUEUE)
    env = zhiku_env(
        {
            "ZHIKU_ENVIRONMENT": "test",
            "ZHIKU_DATA_DIR": str(tmp_path),
            "ZHIKU_REDIS_URL": REDIS_URL,
            "ZHIKU_MAINTENANCE__INTERVAL_S": "1",
        }
    )
    with process(["beat"], env, tmp_path / "beat.log"):
        deadline = time.monotonic() + 60
        while broker.llen(MAINTENANCE_QUEUE) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
    sent = broker.lrange(MAINTENANCE_QUEUE, 0, -1)
    broker.delete(MAINTENANCE_QUEUE)
    assert len(sent) >= 2, (tmp_path / "beat.log").read_text()[-2000:]
    assert all(MAINTENANCE_TASK.encode() in message for message in sent)
