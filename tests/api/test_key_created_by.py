"""Who issued each API key (``api_keys.created_by``): the user themself, an admin for them, or
the operator (None: the command line, the first admin's key at first start). Every path that
issues keys records it, both key listings show it, and so does the ``key.create`` event.
Real HTTP against the embedded default on PostgreSQL; the operator's paths on SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.api.world import World
from tests.live import ThreadServer
from tests.support import make_settings
from zhiku import admin_commands
from zhiku.bootstrap import ensure_first_admin


@pytest.fixture(scope="module")
def world(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("created-by"), database={"url": pg_url})
    with ThreadServer(settings) as srv:
        yield World(srv)


def by_id(keys: list[dict]) -> dict[str, dict]:
    return {k["id"]: k for k in keys}


def test_each_key_says_who_issued_it_in_listings_and_events(world: World) -> None:
    ann_id, bob_id = world.ids["ann"], world.ids["bob"]
    with world.client("ann") as ann, world.client("bob") as bob:
        r = ann.post(f"/v1/admin/users/{bob_id}/keys", json={"name": "管理员签发 by admin"})
        assert r.status_code == 201, r.text
        by_admin = r.json()["id"]
        r = bob.post("/v1/me/keys", json={"name": "自己的 own"})
        assert r.status_code == 201, r.text
        own = r.json()["id"]
        r = ann.post(f"/v1/admin/keys/{own}/rotate", json={})
        assert r.status_code == 200, r.text
        rotated_by_admin = r.json()["id"]

        for listing in (
            ann.get(f"/v1/admin/users/{bob_id}/keys").json()["data"],
            bob.get("/v1/me/keys").json()["data"],
        ):
            keys = by_id(listing)
            assert keys[by_admin]["created_by"] == ann_id
            assert keys[own]["created_by"] == bob_id
            assert keys[rotated_by_admin]["created_by"] == ann_id
            # The world's keys were made by the operator (no user).
            operator_made = [k for k in listing if k["id"] not in {by_admin, own, rotated_by_admin}]
            assert operator_made and all(k["created_by"] is None for k in operator_made)

        events = ann.get("/v1/audit/events", params={"action": "key.create"}).json()["data"]
        created = {e["target_id"]: e for e in events}
        assert created[by_admin]["details"]["created_by"] == ann_id
        assert created[by_admin]["details"]["on_behalf"] is True
        assert created[own]["details"]["created_by"] == bob_id
        assert created[own]["details"]["on_behalf"] is False
        assert created[rotated_by_admin]["details"]["created_by"] == ann_id


def test_the_operator_issues_keys_with_no_user_behind_them(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    assert ensure_first_admin(settings) is not None
    admin_commands.create_tenant(settings, "harbour")
    admin_commands.create_user(settings, "harbour", "运维")
    issued = admin_commands.create_key(settings, "harbour", "运维", "cli key")
    first = admin_commands.list_keys(settings, "default", "admin")
    assert [k.created_by for k in first] == [None]
    keys = admin_commands.list_keys(settings, "harbour", "运维")
    assert [(k.id, k.created_by) for k in keys] == [(issued.id, None)]
