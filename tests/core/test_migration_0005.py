"""Migration 0005 on data written at 0004: a ready document's store is taken to be in line
with its list, any other document's is left unknown (written once by the next
reconciliation); keys made before it have no recorded issuer. On SQLite and PostgreSQL
(a schema of its own, so the shared test database is untouched)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from core.db.migrate import upgrade


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.sqlite3'}"
        return
    base = request.getfixturevalue("pg_url")
    schema = f"m0005_{uuid.uuid4().hex[:8]}"
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sa.text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema}"
    with engine.begin() as conn:
        conn.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
    engine.dispose()


NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _document(doc_id: str, status: str, access_version: int) -> dict[str, object]:
    return {
        "id": doc_id,
        "tenant_id": "t1",
        "title": "港口 harbour",
        "filename": "h.txt",
        "mime_type": "text/plain",
        "size_bytes": 1,
        "content_hash": "0" * 64,
        "version": 1,
        "access_version": access_version,
        "tags": [],
        "status": status,
        "stage": "done" if status == "ready" else "embedding",
        "chunks_done": 0,
        "chunks_total": 0,
        "parse_info": {},
        "blob_key": "k",
        "attempts": 0,
        "created_at": NOW,
        "updated_at": NOW,
    }


def test_backfill_marks_ready_documents_in_line_and_leaves_the_rest_unknown(url: str) -> None:
    upgrade(url, "0004")
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    meta.reflect(engine, only=["tenants", "users", "api_keys", "documents"])
    tenants, users, keys, documents = (
        meta.tables[n] for n in ("tenants", "users", "api_keys", "documents")
    )
    with engine.begin() as conn:
        now = NOW
        conn.execute(tenants.insert().values(id="t1", name="t1", created_at=now))
        conn.execute(
            users.insert().values(
                id="u1", tenant_id="t1", name="ann", is_admin=True, is_auditor=False,
                created_at=now,
            )
        )  # fmt: skip
        conn.execute(
            keys.insert().values(
                id="k1", tenant_id="t1", user_id="u1", name="", prefix="p1", key_hash="h",
                created_at=now,
            )
        )  # fmt: skip
        conn.execute(documents.insert(), [_document("ready", "ready", 3)])
        conn.execute(documents.insert(), [_document("busy", "processing", 2)])
    engine.dispose()

    upgrade(url, "0005")

    engine = sa.create_engine(url)
    with engine.connect() as conn:
        marks = dict(conn.execute(sa.text("SELECT id, store_access_version FROM documents")).all())
        issuer = conn.execute(sa.text("SELECT created_by FROM api_keys")).scalar_one()
        behind = conn.execute(
            sa.text(
                "SELECT id FROM documents WHERE store_access_version IS NULL "
                "OR store_access_version < access_version"
            )
        ).scalars()
        assert list(behind) == ["busy"]
    assert marks == {"ready": 3, "busy": None}
    assert issuer is None
    engine.dispose()
