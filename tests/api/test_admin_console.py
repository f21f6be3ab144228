"""The admin routes the console added, over real HTTP on PostgreSQL: a member's password reset
by an admin (given or generated, the policy, sessions ended, recorded, members only), users and
groups searched by name, a group deleted (refused while an access list names it), the tenant's
read-only summary, and audit events filtered by time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from core.db import identity
from core.db.session import transaction
from tests.api.world import World, upload
from tests.live import ThreadServer
from tests.support import make_settings


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("console"), database={"url": pg_url})
    with ThreadServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def world(server: ThreadServer) -> World:
    world = World(server)
    with transaction(server.container.sessions) as s:
        aud = identity.create_user(s, world.tenant_a.id, "审计员", is_auditor=True)
        world.ids["aud"] = aud.id
    return world


def sign_in(world: World, username: str, password: str) -> httpx.Response:
    return httpx.post(
        world.url + "/v1/auth/login",
        json={"tenant": world.tenant_a.name, "username": username, "password": password},
        headers={"Origin": world.url},
    )


def events(client: httpx.Client, **params: str) -> list[dict]:
    r = client.get("/v1/audit/events", params={"limit": 500, **params})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_an_admin_resets_a_members_password_and_their_sessions_end(world: World) -> None:
    with world.client("ann") as ann:
        chosen = "a new password for carol"
        r = ann.post(f"/v1/admin/users/{world.ids['carol']}/password", json={"password": chosen})
        assert r.status_code == 200, r.text
        assert r.headers["cache-control"] == "no-store"
        assert r.json() == {
            "user_id": world.ids["carol"],
            "generated": False,
            "password": None,
            "sessions_ended": 0,
        }
        session = sign_in(world, "carol", chosen)
        assert session.status_code == 200, session.text
        cookie = session.cookies
        assert httpx.get(world.url + "/v1/me", cookies=cookie).status_code == 200
        # No body: a generated password, returned once; carol's session ends with it.
        r = ann.post(f"/v1/admin/users/{world.ids['carol']}/password")
        assert r.status_code == 200, r.text
        issued = r.json()
        assert issued["generated"] and len(issued["password"]) >= 12
        assert issued["sessions_ended"] == 1
        assert httpx.get(world.url + "/v1/me", cookies=cookie).status_code == 401
        assert sign_in(world, "carol", chosen).status_code == 401
        assert sign_in(world, "carol", issued["password"]).status_code == 200
        recorded = events(ann, action="user.password", target_id=world.ids["carol"])
        assert len(recorded) == 2 and {e["actor_id"] for e in recorded} == {world.ids["ann"]}
        assert issued["password"] not in str(recorded)


@pytest.mark.parametrize(
    ("password", "reason"),
    [("short", "at least 12"), ("CAROL", "at least 12"), ("x" * 257, "at most 256")],
)
def test_a_reset_password_must_meet_the_policy(world: World, password: str, reason: str) -> None:
    with world.client("ann") as ann:
        r = ann.post(f"/v1/admin/users/{world.ids['carol']}/password", json={"password": password})
        assert r.status_code == 400 and reason in r.json()["detail"]
        assert password not in r.text


def test_a_password_that_is_the_username_is_refused(server: ThreadServer, world: World) -> None:
    with world.client("ann") as ann, world.client("zed") as zed:
        with transaction(server.container.sessions) as s:
            long_name = identity.create_user(s, world.tenant_a.id, "a-rather-long-username").id
        r = ann.post(
            f"/v1/admin/users/{long_name}/password", json={"password": "A-Rather-Long-Username"}
        )
        assert r.status_code == 400 and "username" in r.json()["detail"]
        # Another tenant's user is not found; unknown fields are a client's mistake.
        assert zed.post(f"/v1/admin/users/{long_name}/password").status_code == 404
        bad = ann.post(f"/v1/admin/users/{long_name}/password", json={"pasword": "x" * 20})
        assert bad.status_code == 422


def test_only_members_passwords_are_reset_and_only_by_admins(world: World) -> None:
    with world.client("ann") as ann, world.client("bob") as bob:
        for target in ("ann", "aud"):  # an admin (themself included) or an auditor: 403
            r = ann.post(f"/v1/admin/users/{world.ids[target]}/password")
            assert r.status_code == 403, r.text
        assert bob.post(f"/v1/admin/users/{world.ids['carol']}/password").status_code == 403
        anonymous = httpx.post(f"{world.url}/v1/admin/users/{world.ids['carol']}/password")
        assert anonymous.status_code == 401


def test_users_are_searched_by_name_with_wildcards_taken_literally(world: World) -> None:
    with world.client("ann") as ann:
        for name in ("Percent%er", "Perxxnter", "王小明"):
            assert ann.post("/v1/admin/users", json={"name": name}).status_code == 201
        found = ann.get("/v1/admin/users", params={"q": "percent%"}).json()
        assert [u["name"] for u in found["data"]] == ["Percent%er"] and found["count"] == 1
        assert [
            u["name"] for u in ann.get("/v1/admin/users", params={"q": "小"}).json()["data"]
        ] == ["王小明"]
        assert ann.get("/v1/admin/users", params={"q": "_"}).json()["count"] == 0
        assert ann.get("/v1/admin/users", params={"q": "x" * 201}).status_code == 422
        assert ann.get("/v1/admin/users", params={"q": "a\x00"}).status_code == 422
    with world.client("zed") as zed:  # another tenant's names are not found
        assert zed.get("/v1/admin/users", params={"q": "王小明"}).json()["count"] == 0


def test_groups_are_searched_by_name_with_wildcards_taken_literally(world: World) -> None:
    """``?q=`` on the group list was ignored: every group came back."""
    with world.client("ann") as ann:
        for name in ("财务部", "財務處", "Finance_EU", "Financeurs"):
            assert ann.post("/v1/admin/groups", json={"name": name}).status_code == 201

        def names(q: str) -> list[str]:
            r = ann.get("/v1/admin/groups", params={"q": q})
            assert r.status_code == 200, r.text
            assert r.json()["count"] == len(r.json()["data"])
            return [g["name"] for g in r.json()["data"]]

        assert names("财务") == ["财务部"]
        assert names("財務") == ["財務處"]
        assert names("finance_") == ["Finance_EU"]  # "_" is itself, not any character
        assert names("FINANCE") == ["Finance_EU", "Financeurs"]
        assert names("  ") == names("")  # blank: every group
        assert len(names("")) > 2
        assert ann.get("/v1/admin/groups", params={"q": "x" * 201}).status_code == 422
        assert ann.get("/v1/admin/groups", params={"q": "a\x00"}).status_code == 422
    with world.client("zed") as zed:  # another tenant's names are not found
        assert zed.get("/v1/admin/groups", params={"q": "财务"}).json()["count"] == 0


def test_a_group_is_deleted_unless_an_access_list_names_it(world: World) -> None:
    with world.client("ann") as ann, world.client("zed") as zed:
        group = ann.post("/v1/admin/groups", json={"name": "临时组"}).json()
        assert (
            ann.put(f"/v1/admin/groups/{group['id']}/members/{world.ids['bob']}").status_code == 204
        )
        shared = ann.post("/v1/admin/groups", json={"name": "shared"}).json()
        r = upload(ann, [("note.txt", b"shared with a group")], {"groups": [shared["id"]]})
        assert r.status_code in (201, 202), r.text
        assert zed.delete(f"/v1/admin/groups/{group['id']}").status_code == 404
        with world.client("bob") as bob:
            assert bob.delete(f"/v1/admin/groups/{group['id']}").status_code == 403
            assert ann.delete(f"/v1/admin/groups/{group['id']}").status_code == 204
            assert group["id"] not in bob.get("/v1/me").json()["group_ids"]
        assert ann.get(f"/v1/admin/groups/{group['id']}/members").status_code == 404
        refused = ann.delete(f"/v1/admin/groups/{shared['id']}")
        assert refused.status_code == 409 and "access lists of 1 documents" in refused.text
        deleted = events(ann, action="group.delete", target_id=group["id"])
        assert [e["details"] for e in deleted] == [{"name": "临时组", "members": 1}]
        assert deleted[0]["actor_id"] == world.ids["ann"]


def test_the_tenant_summary_counts_its_own_only(world: World) -> None:
    with world.client("ann") as ann, world.client("zed") as zed, world.client("bob") as bob:
        mine = ann.get("/v1/admin/tenant").json()
        assert mine["id"] == world.tenant_a.id and mine["name"] == world.tenant_a.name
        users = ann.get("/v1/admin/users").json()["count"]
        groups = ann.get("/v1/admin/groups").json()["count"]
        assert (mine["users"], mine["groups"]) == (users, groups)
        theirs = zed.get("/v1/admin/tenant").json()
        assert (theirs["id"], theirs["users"], theirs["groups"], theirs["documents"]) == (
            world.tenant_b.id,
            1,
            0,
            0,
        )
        assert bob.get("/v1/admin/tenant").status_code == 403


def test_audit_events_are_filtered_by_time(world: World) -> None:
    with world.client("ann") as ann:
        ann.post("/v1/admin/groups", json={"name": "timed"})
        now = datetime.now(UTC)
        hour = timedelta(hours=1)
        recent = events(ann, action="group.create", since=(now - hour).isoformat())
        assert "timed" in {e["details"]["name"] for e in recent}
        assert events(ann, since=(now + hour).isoformat()) == []
        assert events(ann, until=(now - 24 * hour).isoformat()) == []
        naive = (now - hour).replace(tzinfo=None).isoformat()  # no zone: refused, not guessed
        assert ann.get("/v1/audit/events", params={"since": naive}).status_code == 422
        assert ann.get("/v1/audit/events", params={"since": "yesterday"}).status_code == 422
