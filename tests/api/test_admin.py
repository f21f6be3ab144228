"""Users, roles, groups and keys over real HTTP (PostgreSQL, the embedded default): the
admin routes, self-service keys, tenant isolation on every route, and the audit events each
change leaves (docs/security.md)."""

from __future__ import annotations

import httpx
import pytest

from core.db import identity
from core.db import keys as key_queries
from core.db.session import transaction
from tests.api.world import World, upload
from tests.live import ThreadServer
from tests.support import make_settings

# Every admin route, with the ids it needs filled in by ``admin_routes``.
ADMIN_ROUTES = [
    ("GET", "/v1/admin/users", None),
    ("POST", "/v1/admin/users", {"name": "x"}),
    ("GET", "/v1/admin/users/{user}", None),
    ("POST", "/v1/admin/users/{user}/disable", None),
    ("POST", "/v1/admin/users/{user}/enable", None),
    ("PUT", "/v1/admin/users/{user}/roles", {"is_admin": True, "is_auditor": False}),
    ("GET", "/v1/admin/groups", None),
    ("POST", "/v1/admin/groups", {"name": "x"}),
    ("GET", "/v1/admin/groups/{group}/members", None),
    ("PUT", "/v1/admin/groups/{group}/members/{user}", None),
    ("DELETE", "/v1/admin/groups/{group}/members/{user}", None),
    ("GET", "/v1/admin/users/{user}/keys", None),
    ("POST", "/v1/admin/users/{user}/keys", {"name": "x"}),
    ("DELETE", "/v1/admin/keys/{key}", None),
    ("POST", "/v1/admin/keys/{key}/rotate", None),
]


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("admin"), database={"url": pg_url})
    with ThreadServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def world(server: ThreadServer) -> World:
    world = World(server)
    with transaction(server.container.sessions) as s:  # the operator makes the auditor
        aud = identity.create_user(s, world.tenant_a.id, "审计员", is_auditor=True)
        world.ids["aud"] = aud.id
        world.keys["aud"] = key_queries.issue_api_key(
            s, aud, server.container.settings.secret_key
        ).plaintext
    return world


def key_id_of(client: httpx.Client) -> str:
    """The id of the key ``client`` authenticates with (its newest active one)."""
    keys = client.get("/v1/me/keys").json()["data"]
    return next(k["id"] for k in keys if k["active"])


def events(client: httpx.Client, **params: str) -> list[dict]:
    r = client.get("/v1/audit/events", params={"limit": 500, **params})
    assert r.status_code == 200, r.text
    return r.json()["data"]


def test_members_are_refused_every_admin_route(world: World) -> None:
    with world.client("bob") as bob, world.client("carol") as carol:
        ids = {"user": world.ids["carol"], "group": world.eng.id, "key": key_id_of(carol)}
        for method, path, body in ADMIN_ROUTES:
            r = bob.request(method, path.format(**ids), json=body)
            assert r.status_code == 403, (method, path, r.text)
            r = httpx.request(method, world.url + path.format(**ids), json=body)
            assert r.status_code == 401, (method, path)
    with world.client("aud") as aud:  # an auditor manages nothing either
        assert aud.get("/v1/admin/users").status_code == 403


def test_every_admin_route_is_confined_to_its_tenant(world: World) -> None:
    """zed, admin of tenant B, gets 404 for each of tenant A's users, groups and keys, and
    tenant A is unchanged afterwards."""
    with world.client("carol") as carol:
        carol_key = key_id_of(carol)
    ids = {"user": world.ids["carol"], "group": world.eng.id, "key": carol_key}
    with world.client("zed") as zed:
        for method, path, body in ADMIN_ROUTES:
            if "{" not in path:
                continue
            r = zed.request(method, path.format(**ids), json=body)
            assert r.status_code == 404, (method, path, r.text)
        listed = zed.get("/v1/admin/users").json()
        assert {u["name"] for u in listed["data"]} == {"zed"}
        assert zed.get("/v1/admin/groups").json()["count"] == 0
        assert all(e["target_id"] != world.ids["carol"] for e in events(zed))
    with world.client("carol") as carol:
        assert carol.get("/v1/me").status_code == 200  # not disabled, key not revoked
    with world.client("ann") as ann:
        members = ann.get(f"/v1/admin/groups/{world.eng.id}/members").json()
        assert [u["name"] for u in members["data"]] == ["bob"]


def test_user_lifecycle_create_key_disable_enable(world: World) -> None:
    with world.client("ann") as ann:
        r = ann.post("/v1/admin/users", json={"name": "王伟", "email": "wang@example.cn"})
        assert r.status_code == 201, r.text
        wang = r.json()
        assert (wang["is_admin"], wang["is_auditor"], wang["disabled"]) == (False, False, False)
        r = ann.post(
            f"/v1/admin/users/{wang['id']}/keys", json={"name": "笔记本", "expires_in_days": 30}
        )
        assert r.status_code == 201, r.text
        assert r.headers["cache-control"] == "no-store"
        issued = r.json()
        assert issued["key"].startswith("zk_") and issued["expires_at"]
        headers = {"Authorization": f"Bearer {issued['key']}"}
        me = httpx.get(world.url + "/v1/me", headers=headers)
        assert me.status_code == 200 and me.json()["name"] == "王伟"

        listed = ann.get(f"/v1/admin/users/{wang['id']}/keys").json()["data"]
        assert [(k["name"], k["active"]) for k in listed] == [("笔记本", True)]
        assert not {"key", "key_hash", "hash"} & set(listed[0])

        r = ann.post(f"/v1/admin/users/{wang['id']}/disable")
        assert r.status_code == 200 and r.json()["disabled"]
        refused = httpx.get(world.url + "/v1/me", headers=headers)
        assert refused.status_code == 401
        assert refused.json()["detail"] == "invalid or revoked API key"  # the usual answer
        assert ann.post(f"/v1/admin/users/{wang['id']}/enable").json()["disabled"] is False
        assert httpx.get(world.url + "/v1/me", headers=headers).status_code == 200

        mine = [e for e in events(ann) if e["target_id"] in (wang["id"], issued["id"])]
        assert [e["action"] for e in reversed(mine)] == [
            "user.create",
            "key.create",
            "user.disable",
            "user.enable",
        ]
        assert {e["actor_id"] for e in mine} == {world.ids["ann"]}
        key_event = next(e for e in mine if e["action"] == "key.create")
        assert key_event["details"]["on_behalf"] is True and "key" not in key_event["details"]


def test_admins_cannot_reach_what_belongs_to_auditors(world: World) -> None:
    aud, ann_id = world.ids["aud"], world.ids["ann"]
    with world.client("ann") as ann:
        grant = {"is_admin": True, "is_auditor": True}
        assert ann.put(f"/v1/admin/users/{ann_id}/roles", json=grant).status_code == 403
        r = ann.put(f"/v1/admin/users/{world.ids['carol']}/roles", json=grant)
        assert r.status_code == 403
        assert ann.post(f"/v1/admin/users/{aud}/keys", json={}).status_code == 403
        assert ann.post(f"/v1/admin/users/{world.ids['zed']}/keys", json={}).status_code == 404
        with world.client("aud") as auditor:
            aud_key = key_id_of(auditor)
        assert ann.post(f"/v1/admin/keys/{aud_key}/rotate").status_code == 403
        # Not locked out by mistake: no self-disable, no dropping one's own admin role.
        assert ann.post(f"/v1/admin/users/{ann_id}/disable").status_code == 409
        r = ann.put(
            f"/v1/admin/users/{ann_id}/roles", json={"is_admin": False, "is_auditor": False}
        )
        assert r.status_code == 409
        # Granting admin is allowed, and recorded with before and after.
        carol = world.ids["carol"]
        roles = {"is_admin": True, "is_auditor": False}
        assert ann.put(f"/v1/admin/users/{carol}/roles", json=roles).json()["is_admin"]
        roles["is_admin"] = False
        assert not ann.put(f"/v1/admin/users/{carol}/roles", json=roles).json()["is_admin"]
    with world.client("aud") as auditor:
        changes = events(auditor, action="user.roles", target_id=carol)
        assert [c["details"]["after"]["is_admin"] for c in changes] == [False, True]
        assert all(c["actor_id"] == ann_id for c in changes)


def test_group_membership_add_and_remove_take_effect_on_the_next_request(world: World) -> None:
    with world.client("ann") as ann, world.client("carol") as carol:
        r = ann.post("/v1/admin/groups", json={"name": "研发部"})
        assert r.status_code == 201, r.text
        group = r.json()["id"]
        assert ann.post("/v1/admin/groups", json={"name": "研发部"}).status_code == 409
        doc = upload(ann, [("路线图.txt", "研发部 2027 路线图".encode())], {"groups": [group]})
        doc_id = doc.json()["data"][0]["id"]
        assert carol.get(f"/v1/documents/{doc_id}").status_code == 404
        path = f"/v1/admin/groups/{group}/members/{world.ids['carol']}"
        assert ann.put(path).status_code == 204
        assert carol.get(f"/v1/documents/{doc_id}").status_code == 200
        listed = {g["name"]: g["member_count"] for g in ann.get("/v1/admin/groups").json()["data"]}
        assert listed["研发部"] == 1
        assert ann.delete(path).status_code == 204
        assert ann.delete(path).status_code == 204  # removing a non-member changes nothing
        assert carol.get(f"/v1/documents/{doc_id}").status_code == 404
        actions = [e["action"] for e in events(ann, target_id=group)]
        assert actions == ["group.member.remove", "group.member.add", "group.create"]


def test_self_service_keys_list_create_rotate_revoke(world: World) -> None:
    with world.client("bob") as bob:
        r = bob.post("/v1/me/keys", json={"name": "ci 流水线", "expires_in_days": 7})
        assert r.status_code == 201, r.text
        first = r.json()
        ci = httpx.Client(base_url=world.url, headers={"Authorization": f"Bearer {first['key']}"})
        assert ci.get("/v1/me").json()["id"] == world.ids["bob"]
        # Rotation with a grace period: old and new both work until it ends.
        r = bob.post(f"/v1/me/keys/{first['id']}/rotate", json={"grace_seconds": 600})
        assert r.status_code == 200, r.text
        second = r.json()
        assert second["name"] == "ci 流水线" and second["expires_at"]
        assert ci.get("/v1/me").status_code == 200
        new = {"Authorization": f"Bearer {second['key']}"}
        assert httpx.get(world.url + "/v1/me", headers=new).status_code == 200
        # Rotation without one: the old key is refused at once.
        third = bob.post(f"/v1/me/keys/{second['id']}/rotate").json()
        assert httpx.get(world.url + "/v1/me", headers=new).status_code == 401
        assert bob.delete(f"/v1/me/keys/{third['id']}").status_code == 204
        third_headers = {"Authorization": f"Bearer {third['key']}"}
        assert httpx.get(world.url + "/v1/me", headers=third_headers).status_code == 401
        with world.client("carol") as carol:  # another user's key is not found
            carol_key = key_id_of(carol)
        assert bob.delete(f"/v1/me/keys/{carol_key}").status_code == 404
        assert bob.post(f"/v1/me/keys/{carol_key}/rotate").status_code == 404
        ci.close()
    with world.client("ann") as ann:  # an admin revokes a member's key by id
        bob_keys = ann.get(f"/v1/admin/users/{world.ids['bob']}/keys").json()["data"]
        assert {k["name"] for k in bob_keys} >= {"ci 流水线"}
        r = ann.post("/v1/admin/users/{}/keys".format(world.ids["bob"]), json={"name": "spare"})
        spare = r.json()
        assert ann.delete(f"/v1/admin/keys/{spare['id']}").status_code == 204
        headers = {"Authorization": f"Bearer {spare['key']}"}
        assert httpx.get(world.url + "/v1/me", headers=headers).status_code == 401
        revoked = events(ann, action="key.revoke", target_id=spare["id"])
        assert [e["actor_id"] for e in revoked] == [world.ids["ann"]]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/v1/admin/users", {"name": "nul\x00byte"}),
        ("/v1/admin/users", {"name": "bell\x07"}),
        ("/v1/admin/users", {"name": "x" * 201}),
        ("/v1/admin/users", {"name": "   "}),
        ("/v1/admin/users", {"name": "ok", "is_auditor": True}),  # not a field here
        ("/v1/admin/users", {"name": "ok", "email": "not-an-email"}),
        ("/v1/admin/groups", {"name": "右到左\u202e"}),
        ("/v1/admin/groups", {"name": ["list"]}),
        ("/v1/me/keys", {"expires_in_days": 0}),
        ("/v1/me/keys", {"expires_in_days": 3651}),
        ("/v1/me/keys", {"name": "k" * 201}),
    ],
)
def test_bounded_input_is_refused(world: World, path: str, body: dict) -> None:
    with world.client("ann") as ann:
        r = ann.post(path, json=body)
        assert r.status_code == 422, r.text


def test_ids_in_paths_are_bounded(world: World) -> None:
    with world.client("ann") as ann:
        assert ann.get("/v1/admin/users/" + "a" * 65).status_code == 422
        assert ann.delete("/v1/me/keys/" + "a" * 65).status_code == 422
        assert ann.get("/v1/audit/events", params={"actor_id": "a" * 65}).status_code == 422
