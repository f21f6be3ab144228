"""The cached caller (``web.principal_cache_s``) over real HTTP: whatever the cache holds, a
change made through this server is obeyed on the very next request: a revoked key or a
disabled user gets 401, a new or lost group membership changes what a search finds, a
signed-out session is refused. The lifetime is set long here, so that only the invalidation
can make these pass."""

from __future__ import annotations

import httpx
import pytest

from tests.api.world import World, upload, wait_terminal
from tests.live import ThreadServer
from tests.support import make_settings

DOCS = {
    "en": ("quartz-heron.txt", "The quartz heron protocol covers night shifts in the lab."),
    "zh-Hans": ("石英鹭.txt", "石英鹭规程规定了实验室的夜班安排和交接手续。"),
    "zh-Hant": ("石英鷺.txt", "石英鷺規程規定了實驗室的夜班安排和交接手續。"),
}
QUERIES = {"en": "quartz heron protocol", "zh-Hans": "石英鹭规程", "zh-Hant": "石英鷺規程"}


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(
        tmp_path_factory.mktemp("principal-cache"),
        database={"url": pg_url},
        web={"principal_cache_s": 60.0},
    )
    with ThreadServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def world(server: ThreadServer) -> World:
    """ann (admin) uploads one document per language for group eng only."""
    world = World(server)
    with world.client("ann") as ann:
        files = [(name, text.encode()) for name, text in DOCS.values()]
        r = upload(ann, files, access={"groups": [world.eng.id]})
        assert r.status_code == 202, r.text
        ids = {d["filename"]: d["id"] for d in r.json()["data"]}
        for doc_id in ids.values():
            assert wait_terminal(ann, doc_id)["status"] == "ready"
    world.doc_ids = ids  # type: ignore[attr-defined]
    return world


def found(client: httpx.Client, query: str) -> set[str]:
    r = client.post("/v1/search", json={"query": query, "limit": 10})
    assert r.status_code == 200, r.text
    return {hit["document_id"] for hit in r.json()["results"]}


@pytest.mark.parametrize("language", list(DOCS))
def test_joining_and_leaving_a_group_changes_the_next_search(world: World, language: str) -> None:
    doc_id = world.doc_ids[DOCS[language][0]]  # type: ignore[attr-defined]
    query = QUERIES[language]
    group, carol = world.eng.id, world.ids["carol"]
    with world.client("carol") as user, world.client("ann") as admin:
        assert doc_id not in found(user, query)  # and carol's caller is now cached
        r = admin.put(f"/v1/admin/groups/{group}/members/{carol}")
        assert r.status_code in (200, 204), r.text
        assert doc_id in found(user, query)
        r = admin.delete(f"/v1/admin/groups/{group}/members/{carol}")
        assert r.status_code in (200, 204), r.text
        assert doc_id not in found(user, query)


def test_a_revoked_key_is_refused_on_the_next_request(world: World) -> None:
    with world.client("bob") as bob:
        assert bob.get("/v1/me").status_code == 200
        key_id = next(k["id"] for k in bob.get("/v1/me/keys").json()["data"] if k["active"])
        assert bob.post("/v1/search", json={"query": QUERIES["en"]}).status_code == 200
        assert bob.delete(f"/v1/me/keys/{key_id}").status_code == 204
        assert bob.post("/v1/search", json={"query": QUERIES["en"]}).status_code == 401
        assert bob.get("/v1/me").status_code == 401


def test_a_key_revoked_by_an_admin_is_refused_on_the_next_request(
    server: ThreadServer, world: World
) -> None:
    w = World(server)  # a fresh carol, whose key nobody has revoked yet
    with w.client("carol") as carol, w.client("ann") as admin:
        assert carol.post("/v1/search", json={"query": QUERIES["zh-Hans"]}).status_code == 200
        key_id = next(k["id"] for k in carol.get("/v1/me/keys").json()["data"] if k["active"])
        assert admin.delete(f"/v1/admin/keys/{key_id}").status_code == 204
        assert carol.post("/v1/search", json={"query": QUERIES["zh-Hans"]}).status_code == 401


def test_a_disabled_user_is_refused_on_the_next_request_and_back_when_enabled(
    server: ThreadServer,
) -> None:
    w = World(server)
    user = w.ids["carol"]
    with w.client("carol") as carol, w.client("ann") as admin:
        assert carol.post("/v1/search", json={"query": QUERIES["zh-Hant"]}).status_code == 200
        assert admin.post(f"/v1/admin/users/{user}/disable").status_code in (200, 204)
        assert carol.post("/v1/search", json={"query": QUERIES["zh-Hant"]}).status_code == 401
        assert admin.post(f"/v1/admin/users/{user}/enable").status_code in (200, 204)
        assert carol.post("/v1/search", json={"query": QUERIES["zh-Hant"]}).status_code == 200


def test_a_new_admin_role_is_seen_on_the_next_request(server: ThreadServer) -> None:
    w = World(server)
    user = w.ids["carol"]
    with w.client("carol") as carol, w.client("ann") as admin:
        assert carol.get("/v1/admin/users").status_code == 403
        body = {"is_admin": True, "is_auditor": False}
        assert admin.put(f"/v1/admin/users/{user}/roles", json=body).status_code == 200
        assert carol.get("/v1/admin/users").status_code == 200
        body = {"is_admin": False, "is_auditor": False}
        assert admin.put(f"/v1/admin/users/{user}/roles", json=body).status_code == 200
        assert carol.get("/v1/admin/users").status_code == 403


def test_the_other_tenants_key_never_gets_this_tenants_answer(world: World) -> None:
    with world.client("zed") as zed, world.client("ann") as ann:
        for _ in range(3):  # cached after the first
            assert zed.get("/v1/me").json()["tenant_id"] == world.tenant_b.id
            assert ann.get("/v1/me").json()["tenant_id"] == world.tenant_a.id
        for language, query in QUERIES.items():
            doc_id = world.doc_ids[DOCS[language][0]]  # type: ignore[attr-defined]
            assert doc_id not in found(zed, query)
