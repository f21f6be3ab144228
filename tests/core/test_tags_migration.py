"""Migration 0013: tags stored before they were folded, in the form new uploads store, on
SQLite and PostgreSQL. Full-width forms folded (ＨＲ is HR), a tag holding the commas a
Chinese input method types split (人事，２０２６ is 人事 and 2026), each kept once; tags that
differ (HR and hr, 公开 and 公開) stay distinct. Only the rows it changed are marked for the
store's copy to be rewritten (store_access_version NULL); a second run changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select, update

from core.db import identity
from core.db.migrate import alembic_config, upgrade
from core.db.models import Document
from core.db.session import make_engine, make_session_factory, transaction
from core.text_forms import stored_tags
from tests.support import fresh_database

# (tags as stored before folding, as the migration leaves them)
ROWS = [
    (["ＨＲ"], ["HR"]),
    (["人事，２０２６"], ["人事", "2026"]),
    (["内部、机密", "内部"], ["内部", "机密"]),
    (["HR", "ＨＲ", "hr"], ["HR", "hr"]),
    ([" ＶＩＰ\u3000", "ｖｉｐ"], ["VIP", "vip"]),
    (["公開，ＱＡ"], ["公開", "QA"]),
    (["公开", "公開"], ["公开", "公開"]),  # either script matches either; both kept as written
    (["已规范", "HR"], ["已规范", "HR"]),
    ([], []),
]


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path: Path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'tags.sqlite3'}"
        return
    with fresh_database() as pg:
        yield pg


def _tags_and_marks(sessions, ids: list[str]) -> list[tuple[list[str], int | None]]:  # type: ignore[no-untyped-def]
    with sessions() as s:
        rows = dict(
            (row.id, (row.tags, row.store_access_version))
            for row in s.execute(select(Document.id, Document.tags, Document.store_access_version))
        )
    return [rows[doc_id] for doc_id in ids]


def test_stored_tags_are_folded_split_and_kept_distinct(url: str) -> None:
    upgrade(url, "0012")
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    ids = []
    with transaction(sessions) as s:
        tenant = identity.create_tenant(s, "tags")
        for n, (tags, _) in enumerate(ROWS):
            doc = Document(
                tenant_id=tenant.id,
                title=f"d{n}",
                filename=f"d{n}.txt",
                mime_type="text/plain",
                size_bytes=1,
                content_hash=f"{n:064d}",
                blob_key=f"k{n}",
                tags=tags,
                store_access_version=1,
            )
            s.add(doc)
            s.flush()
            ids.append(doc.id)

    upgrade(url)
    after = _tags_and_marks(sessions, ids)
    assert [tags for tags, _ in after] == [folded for _, folded in ROWS]
    # Only the changed rows wait for the store's copy of their tags to be rewritten.
    assert [mark for _, mark in after] == [None if t != f else 1 for t, f in ROWS]
    # What new uploads store is what the migration stored.
    assert [stored_tags(tags) for tags, _ in ROWS] == [folded for _, folded in ROWS]

    # Idempotent: the rewrite done (marks back to 1), a second run changes nothing.
    with transaction(sessions) as s:
        s.execute(update(Document).values(store_access_version=1))
    command.stamp(alembic_config(url), "0012")
    upgrade(url)
    assert _tags_and_marks(sessions, ids) == [(folded, 1) for _, folded in ROWS]
    engine.dispose()


def _frozen_rule():  # type: ignore[no-untyped-def]
    """Migration 0013's own copy of the rule (a migration must not follow the live code)."""
    import importlib.util

    path = Path(__file__).parents[2] / "core/db/migrations/versions/0013_stored_tags_folded.py"
    spec = importlib.util.spec_from_file_location("migration_0013", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.stored_tags


_TAG_TEXT = st.text(
    alphabet=st.sampled_from(list("HRhrＨＲｈｒ人事公开開，,、 \u3000２０26ＶＩＰ")), max_size=12
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_TAG_TEXT, max_size=5))
def test_the_migrations_frozen_rule_agrees_with_todays(tags: list[str]) -> None:
    # If the live rule changes on purpose, this fails: write a new migration, leave 0013 be.
    assert _frozen_rule()(tags) == stored_tags(tags)
