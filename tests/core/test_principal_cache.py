"""The short cache of who a key belongs to (``core.db.principal_cache``), on SQLite and
PostgreSQL: a change made in this process is seen on the very next request, however long
the cache would keep an answer; a change made elsewhere within its lifetime; and an answer
is only ever given for the token that produced it."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, text

from core.db import groups as group_queries
from core.db import identity, principal_cache
from core.db import keys as key_queries
from core.db.models import ApiKey, User, utcnow
from core.db.session import transaction
from core.errors import Unauthenticated
from services.identity import IdentityService

PEPPER = "pepper"
LONG = 3600.0  # only an invalidation can make a cached answer right within a test


@pytest.fixture(scope="module")
def db(db_engine, sessions):  # type: ignore[no-untyped-def]
    return db_engine, sessions


@pytest.fixture
def world(db) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """Two tenants, each with a user and a key; tenant A's user in group 工程 (eng)."""
    import uuid

    engine, sessions = db
    run = uuid.uuid4().hex[:6]
    with transaction(sessions) as s:
        a = identity.create_tenant(s, f"甲-{run}")
        b = identity.create_tenant(s, f"乙-{run}")
        ann = identity.create_user(s, a.id, "安")
        zed = identity.create_user(s, b.id, "澤")
        eng = group_queries.create_group(s, a.id, "工程")
        ops = group_queries.create_group(s, a.id, "ops")
        group_queries.add_member(s, ann, eng)
        keys = {
            "ann": key_queries.issue_api_key(s, ann, PEPPER),
            "zed": key_queries.issue_api_key(s, zed, PEPPER),
        }
        ids = {"a": a.id, "b": b.id, "ann": ann.id, "zed": zed.id, "eng": eng.id, "ops": ops.id}
    service = IdentityService(sessions, PEPPER, cache_s=LONG)
    return {"engine": engine, "sessions": sessions, "service": service, "keys": keys, **ids}


def queries_of(engine: Any, call: Any) -> int:
    """How many SQL statements ``call()`` sends."""
    sent: list[str] = []

    def count(*_args: Any) -> None:
        sent.append("x")

    event.listen(engine, "before_cursor_execute", count)
    try:
        call()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(sent)


def test_a_repeated_key_skips_the_sql(world) -> None:  # type: ignore[no-untyped-def]
    service, key = world["service"], world["keys"]["ann"].plaintext
    first = service.authenticate(key)
    assert queries_of(world["engine"], lambda: service.authenticate(key)) == 0
    assert service.authenticate(key) == first
    off = IdentityService(world["sessions"], PEPPER, cache_s=0)
    off.authenticate(key)
    assert queries_of(world["engine"], lambda: off.authenticate(key)) > 0


def test_each_token_gets_its_own_principal_never_another_tenants(world) -> None:  # type: ignore[no-untyped-def]
    service, keys = world["service"], world["keys"]
    ann = service.authenticate(keys["ann"].plaintext)
    zed = service.authenticate(keys["zed"].plaintext)
    assert (ann.tenant_id, ann.user_id) == (world["a"], world["ann"])
    assert (zed.tenant_id, zed.user_id) == (world["b"], world["zed"])
    # Cached: still each its own.
    assert service.authenticate(keys["ann"].plaintext).tenant_id == world["a"]
    assert service.authenticate(keys["zed"].plaintext).tenant_id == world["b"]
    # The right prefix with a wrong secret is refused, though that prefix's caller is cached.
    prefix, secret = keys["ann"].plaintext.rsplit("_", 1)
    forged = f"{prefix}_{'A' * len(secret)}"
    with pytest.raises(Unauthenticated):
        service.authenticate(forged)
    with pytest.raises(Unauthenticated):
        service.authenticate(keys["ann"].plaintext + "x")


def test_a_revoked_key_is_refused_at_once(world) -> None:  # type: ignore[no-untyped-def]
    service, key = world["service"], world["keys"]["ann"]
    service.authenticate(key.plaintext)
    with transaction(world["sessions"]) as s:
        key_queries.revoke_key(s, s.get(ApiKey, key.id))
    with pytest.raises(Unauthenticated):
        service.authenticate(key.plaintext)
    # The other tenant's cached key is unaffected (only looked up again).
    assert service.authenticate(world["keys"]["zed"].plaintext).user_id == world["zed"]


def test_a_disabled_user_is_refused_at_once_and_enabled_again(world) -> None:  # type: ignore[no-untyped-def]
    service, key = world["service"], world["keys"]["ann"].plaintext
    service.authenticate(key)
    with transaction(world["sessions"]) as s:
        identity.set_disabled(s, s.get(User, world["ann"]), True, actor_id=None)
    with pytest.raises(Unauthenticated):
        service.authenticate(key)
    with transaction(world["sessions"]) as s:
        identity.set_disabled(s, s.get(User, world["ann"]), False, actor_id=None)
    assert service.authenticate(key).user_id == world["ann"]


def test_group_and_role_changes_are_seen_on_the_next_request(world) -> None:  # type: ignore[no-untyped-def]
    service, key, sessions = world["service"], world["keys"]["ann"].plaintext, world["sessions"]
    assert service.authenticate(key).group_ids == {world["eng"]}
    with transaction(sessions) as s:
        user = s.get(User, world["ann"])
        group_queries.add_member(s, user, group_queries.get_group(s, world["a"], world["ops"]))
    assert service.authenticate(key).group_ids == {world["eng"], world["ops"]}
    with transaction(sessions) as s:
        user = s.get(User, world["ann"])
        group_queries.remove_member(s, user, group_queries.get_group(s, world["a"], world["eng"]))
    assert service.authenticate(key).group_ids == {world["ops"]}
    with transaction(sessions) as s:
        identity.set_roles(
            s, s.get(User, world["ann"]), is_admin=True, is_auditor=False, actor_id=None
        )
    assert service.authenticate(key).is_admin


def test_a_rolled_back_change_keeps_the_old_answer(world) -> None:  # type: ignore[no-untyped-def]
    service, key = world["service"], world["keys"]["ann"]
    service.authenticate(key.plaintext)
    with world["sessions"]() as s:
        key_queries.revoke_key(s, s.get(ApiKey, key.id))
        s.flush()
        s.rollback()
    assert service.authenticate(key.plaintext).user_id == world["ann"]


def test_a_lookup_overtaken_by_a_change_is_not_kept(world) -> None:  # type: ignore[no-untyped-def]
    cache: principal_cache.PrincipalCache[str] = principal_cache.PrincipalCache(LONG)
    since = principal_cache.generation()
    principal_cache.forget_all()  # a revocation committed while the lookup ran
    cache.put("zk_token", "stale", since, None)
    assert cache.get("zk_token") is None
    cache.put("zk_token", "fresh", principal_cache.generation(), None)
    assert cache.get("zk_token") == "fresh"
    assert cache.get("zk_other") is None


def test_an_answer_never_outlives_the_key(world, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with transaction(world["sessions"]) as s:
        user = s.get(User, world["ann"])
        soon = key_queries.issue_api_key(
            s, user, PEPPER, expires_at=utcnow() + timedelta(minutes=5)
        )
    service = world["service"]
    assert service.authenticate(soon.plaintext).user_id == world["ann"]
    later = utcnow() + timedelta(minutes=6)
    monkeypatch.setattr(principal_cache, "utcnow", lambda: later)
    monkeypatch.setattr(identity, "utcnow", lambda: later)
    with pytest.raises(Unauthenticated):
        service.authenticate(soon.plaintext)


def test_another_processs_change_is_seen_within_the_lifetime(world) -> None:  # type: ignore[no-untyped-def]
    """A revocation this process did not make (the command line: here, SQL on a connection
    of its own, past the ORM) is seen once the cached answer ages out."""
    service = IdentityService(world["sessions"], PEPPER, cache_s=0.5)
    key = world["keys"]["ann"]
    service.authenticate(key.plaintext)
    with world["engine"].begin() as conn:
        conn.execute(
            text("UPDATE api_keys SET revoked_at = :now WHERE id = :id"),
            {"now": utcnow(), "id": key.id},
        )
    assert service.authenticate(key.plaintext).user_id == world["ann"]  # within 0.5 s: cached
    time.sleep(0.6)
    with pytest.raises(Unauthenticated):
        service.authenticate(key.plaintext)
