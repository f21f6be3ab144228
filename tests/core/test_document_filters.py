"""The documents list's search and filters and the directory of names, on both databases
(SQLite, the embedded default, and PostgreSQL): the expected rows computed by plain Python."""

from __future__ import annotations

import uuid

import pytest

from core.access import user_token
from core.db import directory as directory_queries
from core.db import documents as doc_queries
from core.db import groups as group_queries
from core.db import identity
from core.db.session import transaction

NAMES = ["季度报告.txt", "100%_done.md", "100x done.md", "a\\b.txt", "Plan.PDF", "plan_b.pdf"]
TAGS = [["财务", "q3"], ["q3"], [], ["财务"], ["财务部"], ['say "hi"']]
MIMES = ["text/plain", "text/markdown", "text/markdown", "text/plain", "application/pdf"] * 2


@pytest.fixture(scope="module")
def world(sessions):  # type: ignore[no-untyped-def]
    with transaction(sessions) as s:
        tenant = identity.create_tenant(s, f"f-{uuid.uuid4().hex[:6]}")
        other = identity.create_tenant(s, f"g-{uuid.uuid4().hex[:6]}")
        owner = identity.create_user(s, tenant.id, "Owner")
        reader = identity.create_user(s, tenant.id, "reader_1")
        stranger = identity.create_user(s, other.id, "owner2")
        group_queries.create_group(s, tenant.id, "财务部")
        for name, tags, mime in zip(NAMES, TAGS, MIMES, strict=False):
            doc = doc_queries.create_document(
                s,
                tenant_id=tenant.id,
                owner_id=owner.id,
                title=name.rsplit(".", 1)[0],
                filename=name,
                mime_type=mime,
                size_bytes=1,
                content_hash="x",
                tags=tags,
                blob_key="k",
            )
            doc.access = [user_token(owner.id)]
        principals = {
            "owner": identity.principal_for(owner),
            "reader": identity.principal_for(reader),
            "stranger": identity.principal_for(stranger),
        }
    return sessions, principals, tenant.id


def _listed(world, who: str = "owner", **filters: object) -> set[str]:  # type: ignore[no-untyped-def]
    sessions, principals, _ = world
    with sessions() as s:
        rows, total = doc_queries.list_documents(s, principals[who], **filters)  # type: ignore[arg-type]
    assert total == len(rows)
    return {d.filename for d in rows}


@pytest.mark.parametrize(
    "text", ["%", "_", "\\", "100%_", "0x", "PLAN", "plan_", "季度", "报告.", "x", "%_%"]
)
def test_name_search_is_a_literal_case_insensitive_substring(world, text: str) -> None:  # type: ignore[no-untyped-def]
    want = {
        n for n in NAMES if text.lower() in n.lower() or text.lower() in n.rsplit(".", 1)[0].lower()
    }
    assert _listed(world, name=text) == want


@pytest.mark.parametrize("tag", ["财务", "q3", "财", "财务部", 'say "hi"', "%"])
def test_a_tag_matches_whole(world, tag: str) -> None:  # type: ignore[no-untyped-def]
    want = {n for n, tags in zip(NAMES, TAGS, strict=True) if tag in tags}
    assert _listed(world, tag=tag) == want


def test_type_ids_and_access_filters_combine(world) -> None:  # type: ignore[no-untyped-def]
    assert _listed(world, mime_type="text/markdown") == {"100%_done.md", "100x done.md"}
    assert _listed(world, mime_type="text/markdown", name="x") == {"100x done.md"}
    assert _listed(world, tag="财务", mime_type="text/plain") == {"季度报告.txt", "a\\b.txt"}
    assert _listed(world, name="plan", status="failed") == set()
    # Neither a colleague without access nor another tenant's user sees any, whatever asked.
    for who in ("reader", "stranger"):
        assert _listed(world, who) == set()
        assert _listed(world, who, name="plan") == set()


def test_directory_is_per_tenant_literal_and_skips_the_disabled(world) -> None:  # type: ignore[no-untyped-def]
    sessions, principals, tenant_id = world
    with transaction(sessions) as s:
        users, groups = directory_queries.directory(s, tenant_id, name="OWN")
        assert [n for _, n in users] == ["Owner"]  # not owner2 of the other tenant
        users, groups = directory_queries.directory(s, tenant_id, name="_")
        assert [n for _, n in users] == ["reader_1"] and groups == []
        users, groups = directory_queries.directory(s, tenant_id, name="财务")
        assert users == [] and [n for _, n in groups] == ["财务部"]
        reader = identity.get_user(s, tenant_id, principals["reader"].user_id)
        identity.set_disabled(s, reader, True, actor_id=None)
    with transaction(sessions) as s:
        users, _ = directory_queries.directory(s, tenant_id, name="reader")
        assert users == []
