"""The metadata store on real PostgreSQL and on SQLite: migrations, keys, visibility."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect

from core.access import AccessList, Principal
from core.db import documents as doc_queries
from core.db import identity
from core.db.migrate import alembic_config, upgrade
from core.db.models import Base, Tenant
from core.db.session import make_engine, make_session_factory, transaction
from core.errors import Conflict, NotFound, Unauthenticated


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def sessions(request, tmp_path_factory):  # type: ignore[no-untyped-def]
    # Only the PostgreSQL cases ask for ``pg_url``: the SQLite ones run without a server.
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'z.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    yield make_session_factory(engine)
    engine.dispose()


def test_migrations_match_models(sessions) -> None:  # type: ignore[no-untyped-def]
    with sessions() as session:
        diff = compare_metadata(MigrationContext.configure(session.connection()), Base.metadata)
    assert diff == []


def test_upgrade_is_idempotent(tmp_path: Path) -> None:
    """A second upgrade changes nothing: still at head, same schema, the data kept."""
    url = f"sqlite:///{tmp_path / 'a.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    with transaction(sessions) as s:
        tenant_id = identity.create_tenant(s, "kept").id
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
    upgrade(url)
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    with engine.connect() as conn:
        context = MigrationContext.configure(conn)
        assert context.get_current_revision() == head
        assert set(inspect(conn).get_table_names()) == tables
        assert compare_metadata(context, Base.metadata) == []
    with sessions() as s:
        assert s.get(Tenant, tenant_id) is not None
    engine.dispose()


def test_api_key_round_trip_and_revocation(sessions) -> None:  # type: ignore[no-untyped-def]
    with transaction(sessions) as s:
        tenant = identity.create_tenant(s, "keys-tenant")
        user = identity.create_user(s, tenant.id, "ann")
        group = identity.create_group(s, tenant.id, "eng")
        identity.add_member(s, user, group)
        issued = identity.issue_api_key(s, user, "pepper")
    with transaction(sessions) as s:
        principal = identity.authenticate(s, issued.plaintext, "pepper")
    assert principal == Principal(tenant.id, user.id, frozenset({group.id}), False)
    for bad in ["", "zk_nope_nope", issued.plaintext + "x", issued.plaintext.replace("zk_", "zz_")]:
        with transaction(sessions) as s, pytest.raises(Unauthenticated):
            identity.authenticate(s, bad, "pepper")
    with transaction(sessions) as s, pytest.raises(Unauthenticated):
        identity.authenticate(s, issued.plaintext, "another pepper")
    with transaction(sessions) as s:
        identity.revoke_api_key(s, issued.id)
    with transaction(sessions) as s, pytest.raises(Unauthenticated):
        identity.authenticate(s, issued.plaintext, "pepper")
    # the key is stored hashed only
    with sessions() as s:
        from core.db.models import ApiKey

        row = s.get(ApiKey, issued.id)
        assert issued.plaintext.split("_", 2)[2] not in row.key_hash


def test_duplicates_are_conflicts(sessions) -> None:  # type: ignore[no-untyped-def]
    with transaction(sessions) as s:
        identity.create_tenant(s, "dup")
        with pytest.raises(Conflict):
            identity.create_tenant(s, "dup")


def test_access_list_must_name_members_of_the_tenant(sessions) -> None:  # type: ignore[no-untyped-def]
    with transaction(sessions) as s:
        a = identity.create_tenant(s, "acl-a")
        b = identity.create_tenant(s, "acl-b")
        outsider = identity.create_user(s, b.id, "eve")
        with pytest.raises(NotFound):
            identity.existing_ids(s, a.id, {outsider.id}, set())


_world = st.fixed_dictionaries(
    {
        "docs": st.lists(
            st.tuples(
                st.integers(0, 1),  # tenant
                st.frozensets(st.integers(0, 3), max_size=3),  # users
                st.frozensets(st.integers(0, 2), max_size=2),  # groups
                st.booleans(),  # everyone
            ),
            min_size=1,
            max_size=8,
        ),
        "memberships": st.frozensets(st.tuples(st.integers(0, 3), st.integers(0, 2)), max_size=8),
    }
)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(world=_world)
def test_listing_shows_exactly_the_readable_documents(sessions, world) -> None:  # type: ignore[no-untyped-def]
    """Random tenants, users, groups and access lists: a listing never shows a document the
    caller may not read, nor hides one it may."""
    import uuid

    run = uuid.uuid4().hex[:8]
    with transaction(sessions) as s:
        tenants = [identity.create_tenant(s, f"t{i}-{run}") for i in range(2)]
        users = {
            (t, u): identity.create_user(s, tenants[t].id, f"u{u}")
            for t in range(2)
            for u in range(4)
        }
        groups = {
            (t, g): identity.create_group(s, tenants[t].id, f"g{g}")
            for t in range(2)
            for g in range(3)
        }
        for t in range(2):
            for u, g in world["memberships"]:
                identity.add_member(s, users[(t, u)], groups[(t, g)])
        expected_acl = {}
        for i, (t, us, gs, everyone) in enumerate(world["docs"]):
            acl = AccessList(
                frozenset(users[(t, u)].id for u in us),
                frozenset(groups[(t, g)].id for g in gs),
                everyone,
            )
            doc = doc_queries.create_document(
                s,
                tenant_id=tenants[t].id,
                title=f"d{i}",
                filename=f"d{i}.txt",
                mime_type="text/plain",
                size_bytes=1,
                content_hash="x",
                blob_key="k",
            )
            doc.access = acl.tokens()
            expected_acl[doc.id] = (tenants[t].id, acl.tokens())
        principals = [identity.principal_for(u) for u in users.values()]
    with sessions() as s:
        for principal in principals:
            rows, total = doc_queries.list_documents(s, principal, limit=500)
            seen = {d.id for d in rows}
            want = {
                d
                for d, (tenant_id, tokens) in expected_acl.items()
                if principal.can_read(tenant_id, tokens)
            }
            assert seen == want
            assert total == len(want)
            for doc_id in expected_acl:
                if doc_id in want:
                    doc_queries.readable_document(s, principal, doc_id)
                else:
                    with pytest.raises(NotFound):
                        doc_queries.readable_document(s, principal, doc_id)
