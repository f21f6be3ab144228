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
from core.db import directory as directory_queries
from core.db import documents as doc_queries
from core.db import groups as group_queries
from core.db import identity
from core.db import keys as key_queries
from core.db.migrate import alembic_config, upgrade
from core.db.models import Base, Tenant
from core.db.session import make_engine, make_session_factory, transaction
from core.errors import Conflict, NotFound, Unauthenticated


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
        group = group_queries.create_group(s, tenant.id, "eng")
        group_queries.add_member(s, user, group)
        issued = key_queries.issue_api_key(s, user, "pepper")
    with transaction(sessions) as s:
        principal = identity.authenticate(s, issued.plaintext, "pepper")
    assert principal == Principal(tenant.id, user.id, frozenset({group.id}), False)
    for bad in ["", "zk_nope_nope", issued.plaintext + "x", issued.plaintext.replace("zk_", "zz_")]:
        with transaction(sessions) as s, pytest.raises(Unauthenticated):
            identity.authenticate(s, bad, "pepper")
    with transaction(sessions) as s, pytest.raises(Unauthenticated):
        identity.authenticate(s, issued.plaintext, "another pepper")
    with transaction(sessions) as s:
        key_queries.revoke_api_key(s, issued.id)
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
            directory_queries.existing_ids(s, a.id, {outsider.id}, set())


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
            (t, g): group_queries.create_group(s, tenants[t].id, f"g{g}")
            for t in range(2)
            for g in range(3)
        }
        for t in range(2):
            for u, g in world["memberships"]:
                group_queries.add_member(s, users[(t, u)], groups[(t, g)])
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


def test_disabled_users_and_expired_keys_are_refused_like_any_bad_key(sessions) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from core.db import events
    from core.db.models import utcnow

    with transaction(sessions) as s:
        tenant = identity.create_tenant(s, "lifecycle")
        user = identity.create_user(s, tenant.id, "研发-ann")
        live = key_queries.issue_api_key(s, user, "pepper", expires_at=utcnow() + timedelta(days=1))
        expired = key_queries.issue_api_key(s, user, "pepper", expires_at=utcnow() - timedelta(1))
    with transaction(sessions) as s:
        assert identity.authenticate(s, live.plaintext, "pepper").user_id == user.id
    with transaction(sessions) as s, pytest.raises(Unauthenticated, match="invalid or revoked"):
        identity.authenticate(s, expired.plaintext, "pepper")
    with transaction(sessions) as s:
        identity.set_disabled(s, s.get(type(user), user.id), True, actor_id=None)
    with transaction(sessions) as s, pytest.raises(Unauthenticated, match="invalid or revoked"):
        identity.authenticate(s, live.plaintext, "pepper")
    with transaction(sessions) as s:
        identity.set_disabled(s, s.get(type(user), user.id), False, actor_id=None)
    with transaction(sessions) as s:
        assert identity.authenticate(s, live.plaintext, "pepper").user_id == user.id
        rows, _ = events.list_events(s, tenant.id, limit=100)
        actions = [e.action for e in rows]
    assert actions.count("key.create") == 2
    assert {"user.create", "user.disable", "user.enable"} <= set(actions)


def test_rotation_replaces_a_key_at_once_or_after_a_grace(sessions) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from core.db.models import ApiKey, User, utcnow

    with transaction(sessions) as s:
        tenant = identity.create_tenant(s, "rotation")
        user = identity.create_user(s, tenant.id, "bob")
        old = key_queries.issue_api_key(
            s, user, "pepper", "ci", expires_at=utcnow() + timedelta(days=30)
        )
    with transaction(sessions) as s:
        row, owner = s.get(ApiKey, old.id), s.get(User, user.id)
        new = key_queries.rotate_key(s, row, owner, "pepper", actor_id=user.id)
    assert new.name == "ci" and new.expires_at is not None
    # The same lifetime, counted from the rotation.
    assert timedelta(days=29) < new.expires_at - utcnow() <= timedelta(days=30)
    with transaction(sessions) as s, pytest.raises(Unauthenticated):
        identity.authenticate(s, old.plaintext, "pepper")
    with transaction(sessions) as s:
        assert identity.authenticate(s, new.plaintext, "pepper").user_id == user.id
        with pytest.raises(Conflict):  # a revoked key is not rotated again
            key_queries.rotate_key(s, s.get(ApiKey, old.id), s.get(User, user.id), "pepper")
        graced = key_queries.rotate_key(
            s, s.get(ApiKey, new.id), s.get(User, user.id), "pepper", grace=timedelta(hours=1)
        )
    with transaction(sessions) as s:  # both work during the grace period
        assert identity.authenticate(s, new.plaintext, "pepper").user_id == user.id
        assert identity.authenticate(s, graced.plaintext, "pepper").user_id == user.id
        assert key_queries.get_key(s, tenant.id, new.id).expires_at is not None
        with pytest.raises(NotFound):  # keys are looked up within their tenant
            key_queries.get_key(s, identity.create_tenant(s, "rotation-other").id, new.id)


def test_group_membership_removal_narrows_the_principal(sessions) -> None:  # type: ignore[no-untyped-def]
    with transaction(sessions) as s:
        tenant = identity.create_tenant(s, "membership")
        user = identity.create_user(s, tenant.id, "carol")
        group = group_queries.create_group(s, tenant.id, "研发部")
        group_queries.add_member(s, user, group, actor_id=None)
        assert identity.principal_for(user).group_ids == {group.id}
        group_queries.remove_member(s, user, group, actor_id=None)
        group_queries.remove_member(s, user, group, actor_id=None)  # a no-op, not an error
        assert identity.principal_for(user).group_ids == frozenset()
        members, count = group_queries.group_members(s, group)
        assert (members, count) == ([], 0)
