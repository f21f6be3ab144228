"""API keys narrowed to a scope (full, chat, upload) and bound to browser origins, enforced by
``RequestGuard`` before any body is read; CORS for the widget; key creation's validation.
Real HTTP against the embedded default on PostgreSQL (no answer model: a chat with nothing
to read answers "no context" without one)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from api import scopes
from core.db.migrate import alembic_config
from tests.api.world import World, upload, wait_terminal
from tests.live import ThreadServer
from tests.llm.backends import dead_backend
from tests.support import make_settings

ALLOWED = "http://allowed.example:8080"
EVIL = "https://evil.example"


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory) -> Iterator[ThreadServer]:  # type: ignore[no-untyped-def]
    # A backend that never answers: with nothing to read, a chat answers "no context" without
    # asking it, so these tests need no model.
    settings = make_settings(
        tmp_path_factory.mktemp("key-scopes"),
        database={"url": pg_url},
        llm={"backends": [dead_backend("down")], "local": {"enabled": False}},
    )
    with ThreadServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def world(server: ThreadServer) -> World:
    return World(server)


def mint(world: World, who: str, **spec: object) -> dict:
    with world.client(who) as client:
        r = client.post("/v1/me/keys", json={"name": "scoped", **spec})
        assert r.status_code == 201, r.text
        return r.json()


def keyed(world: World, key: str, **headers: str) -> httpx.Client:
    return httpx.Client(
        base_url=world.url, headers={"Authorization": f"Bearer {key}", **headers}, timeout=60
    )


def test_every_route_of_the_app_is_classified(server: ThreadServer) -> None:
    """Fail closed: a route nobody classified is refused to every scoped key, and this test
    makes its author decide."""
    seen: set[tuple[str, str]] = set()
    unclassified = []
    for method, path in scopes.app_routes(server.app.routes):
        seen.add(("GET" if method == "HEAD" else method, path))
        if scopes.classify(method, path) is None:
            unclassified.append(f"{method} {path}")
    assert not unclassified, f"classify these in api/scopes.py: {unclassified}"
    # And the table names no route that is gone (a renamed route would silently lose it).
    assert set(scopes.ROUTES) <= seen, set(scopes.ROUTES) - seen
    assert ("POST", "/v1/chat") in seen and len(seen) > 30


def test_a_chat_key_may_ask_and_nothing_else(world: World) -> None:
    # zed's tenant has no documents: a chat answers "no context" without the (dead) model.
    chat = mint(world, "zed", scope="chat")
    assert chat["scope"] == "chat" and chat["allowed_origins"] == []
    with keyed(world, chat["key"]) as client:
        r = client.post("/v1/chat", json={"message": "What is in the handbook?", "stream": False})
        assert r.status_code == 200, r.text
        assert r.json()["outcome"] == "no_context"
        conversation = r.json()["conversation_id"]
        assert client.get(f"/v1/conversations/{conversation}").status_code == 200
        assert client.get("/v1/me").json()["id"] == world.ids["zed"]
        assert client.get("/v1/models").status_code == 200
        assert client.get("/v1/models/zhiku").status_code == 200
        refused = [
            ("POST", "/v1/search", {"json": {"query": "handbook"}}),
            ("GET", "/v1/documents", {}),
            ("GET", "/v1/documents/00000000-0000-0000-0000-000000000000", {}),
            ("DELETE", "/v1/documents/00000000-0000-0000-0000-000000000000", {}),
            ("GET", "/v1/conversations", {}),
            ("GET", "/v1/me/keys", {}),
            ("POST", "/v1/me/keys", {"json": {"name": "escalate", "scope": "full"}}),
            ("GET", f"/v1/admin/users/{world.ids['zed']}/keys", {}),
            ("GET", "/v1/audit/events", {}),
            ("GET", "/v1/no-such-route", {}),
            ("GET", "/documents", {}),
        ]
        for method, path, kwargs in refused:
            r = client.request(method, path, **kwargs)  # type: ignore[arg-type]
            assert r.status_code == 403, (method, path, r.text)
            assert "scope is 'chat'" in r.json()["detail"], r.text
        # An upload is refused before its body is read.
        r = upload(client, [("notes.txt", b"x" * 200_000)])
        assert r.status_code == 403 and "scope is 'chat'" in r.json()["detail"]


def test_an_upload_key_may_upload_and_follow_its_own_uploads_only(world: World) -> None:
    key = mint(world, "bob", scope="upload", name="scanner")
    with keyed(world, key["key"]) as client, world.client("ann") as ann:
        r = upload(client, [("scan.txt", b"Scanned invoice 42: paid in full.")])
        assert r.status_code == 202, r.text
        doc_id = r.json()["data"][0]["id"]
        assert wait_terminal(client, doc_id)["status"] == "ready"
        # ann's document that bob may read is not the upload key's to see.
        r = upload(ann, [("public.txt", b"A notice for everyone.")], access={"everyone": True})
        public_id = r.json()["data"][0]["id"]
        with world.client("bob") as bob:
            assert bob.get(f"/v1/documents/{public_id}").status_code == 200
        assert client.get(f"/v1/documents/{public_id}").status_code == 404
        for method, path, body in [
            ("POST", "/v1/chat", {"message": "invoice 42?"}),
            ("POST", "/v1/chat/completions", {"model": "zhiku", "messages": []}),
            ("POST", "/v1/search", {"query": "invoice"}),
            ("GET", "/v1/documents", None),
            ("GET", "/v1/me", None),
            ("GET", "/v1/models", None),
            ("DELETE", f"/v1/documents/{doc_id}", None),
        ]:
            r = client.request(method, path, json=body)
            assert r.status_code == 403, (method, path, r.text)
            assert "scope is 'upload'" in r.text


def test_scoped_keys_cannot_mint_wider_keys_and_members_cannot_mint_for_others(
    world: World,
) -> None:
    chat = mint(world, "bob", scope="chat")
    with keyed(world, chat["key"]) as client:
        for scope in ("full", "chat", "upload"):
            r = client.post("/v1/me/keys", json={"scope": scope})
            assert r.status_code == 403, r.text
    with world.client("bob") as bob:
        # A member cannot issue keys for anyone else (the admin routes), of any scope.
        r = bob.post(f"/v1/admin/users/{world.ids['ann']}/keys", json={"scope": "chat"})
        assert r.status_code == 403
        # There is no scope above "full": an "admin" scope does not exist.
        r = bob.post("/v1/me/keys", json={"scope": "admin"})
        assert r.status_code == 422
    with world.client("ann") as ann:
        # An admin issues a scoped, origin-bound key for a user; both listings show it.
        r = ann.post(
            f"/v1/admin/users/{world.ids['carol']}/keys",
            json={"name": "卡罗尔的小部件 widget", "scope": "chat", "allowed_origins": [ALLOWED]},
        )
        assert r.status_code == 201, r.text
        issued = r.json()
        assert issued["scope"] == "chat" and issued["allowed_origins"] == [ALLOWED]
        listing = ann.get(f"/v1/admin/users/{world.ids['carol']}/keys").json()["data"]
        shown = next(k for k in listing if k["id"] == issued["id"])
        assert shown["scope"] == "chat" and shown["allowed_origins"] == [ALLOWED]
        # Rotation keeps the scope and the origins.
        r = ann.post(f"/v1/admin/keys/{issued['id']}/rotate", json={})
        assert r.status_code == 200, r.text
        assert r.json()["scope"] == "chat" and r.json()["allowed_origins"] == [ALLOWED]
    with keyed(world, world.keys["carol"]) as carol:
        mine = carol.get("/v1/me/keys").json()["data"]
        assert {k["scope"] for k in mine} == {"full", "chat"}
        assert all(k["scope"] == "full" for k in mine if not k["allowed_origins"])


@pytest.mark.parametrize(
    "origins",
    [
        ["ftp://example.com"],
        ["https://example.com/path"],
        ["https://example.com?q=1"],
        ["https://user@example.com"],
        ["example.com"],
        ["https://"],
        ["https://exa mple.com"],
        ["https://例子.中国"],
        ["https://example.com:70000"],
        ["https://" + "a" * 300 + ".com"],
        [f"https://h{i}.example" for i in range(21)],
        "https://example.com",
        [None],
    ],
)
def test_bad_origins_are_refused(world: World, origins: object) -> None:
    with world.client("bob") as bob:
        r = bob.post("/v1/me/keys", json={"scope": "chat", "allowed_origins": origins})
        assert r.status_code == 422, r.text


def test_origins_are_normalised_and_deduplicated(world: World) -> None:
    key = mint(
        world,
        "bob",
        scope="chat",
        allowed_origins=["HTTPS://Docs.Example.com:443/", "https://docs.example.com", ALLOWED],
    )
    assert key["allowed_origins"] == ["https://docs.example.com", ALLOWED]


def test_an_origin_bound_key_answers_its_origins_only(world: World) -> None:
    key = mint(world, "zed", scope="chat", allowed_origins=[ALLOWED])["key"]
    body = {"message": "Anything about the handbook?", "stream": False}
    with keyed(world, key) as client:
        r = client.post("/v1/chat", json=body, headers={"Origin": ALLOWED})
        assert r.status_code == 200, r.text
        assert r.headers["access-control-allow-origin"] == ALLOWED
        assert "access-control-allow-credentials" not in r.headers
        assert "Origin" in r.headers["vary"]
        # Not a browser (no Origin): the key works, no CORS.
        r = client.post("/v1/chat", json=body)
        assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
        for origin in (EVIL, "null", "http://allowed.example:8081", "https://allowed.example"):
            r = client.post("/v1/chat", json=body, headers={"Origin": origin})
            assert r.status_code == 403, (origin, r.text)
            assert "may not be used from" in r.json()["detail"]
        # The refusal is readable by the page that made it (it says why, and nothing more).
        r = client.post("/v1/chat", json=body, headers={"Origin": EVIL})
        assert r.headers["access-control-allow-origin"] == EVIL
        # The widget frame: our own origin, reporting the embedding page.
        own = world.url
        ok = client.post(
            "/v1/chat",
            json=body,
            headers={"Origin": own, "X-Zhiku-Embedder-Origin": ALLOWED},
        )
        assert ok.status_code == 200, ok.text
        assert "access-control-allow-origin" not in ok.headers  # same origin: no CORS
        r = client.post(
            "/v1/chat", json=body, headers={"Origin": own, "X-Zhiku-Embedder-Origin": EVIL}
        )
        assert r.status_code == 403
        # Our own origin without an embedder is not one of the key's origins.
        assert client.post("/v1/chat", json=body, headers={"Origin": own}).status_code == 403
        # Another site cannot claim an embedder: the header counts only from our origin.
        r = client.post(
            "/v1/chat", json=body, headers={"Origin": EVIL, "X-Zhiku-Embedder-Origin": ALLOWED}
        )
        assert r.status_code == 403


def test_a_key_without_origins_gets_no_cross_origin_reads(world: World) -> None:
    with world.client("bob") as bob:
        r = bob.get("/v1/me", headers={"Origin": EVIL})
        assert r.status_code == 200
        assert "access-control-allow-origin" not in r.headers


def test_preflight_of_the_chat_routes(world: World) -> None:
    for path, method in [
        ("/v1/chat", "POST"),
        ("/v1/chat/completions", "POST"),
        ("/v1/models", "GET"),
        ("/v1/documents", "POST"),  # an upload key's route
    ]:
        r = httpx.options(
            world.url + path,
            headers={
                "Origin": EVIL,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert r.status_code == 204, (path, r.text)
        assert r.headers["access-control-allow-origin"] == EVIL
        assert r.headers["access-control-allow-methods"] == method
        assert r.headers["access-control-allow-headers"] == "Authorization, Content-Type"
        assert "access-control-allow-credentials" not in r.headers
    for path, method in [
        ("/v1/documents", "GET"),
        ("/v1/search", "POST"),
        ("/v1/admin/users", "GET"),
        ("/v1/me/keys", "POST"),
        ("/login", "POST"),
    ]:
        r = httpx.options(
            world.url + path, headers={"Origin": EVIL, "Access-Control-Request-Method": method}
        )
        assert r.status_code == 403, (path, r.text)
        assert "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize(
    ("language", "detail"),
    [
        ("en", "cross-origin requests are not accepted on this route"),
        ("zh-CN", "此接口不接受跨域请求"),
        ("zh-TW", "此介面不接受跨域請求"),
    ],
)
def test_a_refused_preflight_says_why_in_the_callers_language(
    world: World, language: str, detail: str
) -> None:
    """The refusal has every other refusal's shape (``{"detail": …}``) and language."""
    r = httpx.options(
        world.url + "/v1/search",
        headers={
            "Origin": EVIL,
            "Access-Control-Request-Method": "POST",
            "Accept-Language": language,
        },
    )
    assert r.status_code == 403
    assert r.json() == {"detail": detail}


def test_a_revoked_key_is_refused_readably_on_its_next_request(world: World) -> None:
    issued = mint(world, "bob", scope="chat", allowed_origins=[ALLOWED])
    with keyed(world, issued["key"], Origin=ALLOWED) as client:
        assert client.get("/v1/me").status_code == 200
        with world.client("bob") as bob:
            assert bob.delete(f"/v1/me/keys/{issued['id']}").status_code == 204
        r = client.get("/v1/me")
        assert r.status_code == 401
        assert r.headers["access-control-allow-origin"] == ALLOWED


def test_cookies_stay_same_origin(world: World, server: ThreadServer) -> None:
    """A session cookie is never honoured for another site: a cross-origin request with one
    is refused (no key), and its answer carries no CORS header."""
    r = httpx.post(
        world.url + "/v1/chat",
        json={"message": "hi"},
        headers={"Origin": EVIL, "Cookie": "zhiku_session=" + "a" * 43},
    )
    assert r.status_code in (401, 403)
    assert "access-control-allow-credentials" not in r.headers


def test_migration_0007_up_and_down_on_sqlite(tmp_path: Path) -> None:
    from alembic import command
    from sqlalchemy import create_engine, inspect

    url = f"sqlite:///{tmp_path / 'zhiku.db'}"
    config = alembic_config(url)
    command.upgrade(config, "0007")
    columns = {c["name"] for c in inspect(create_engine(url)).get_columns("api_keys")}
    assert {"scope", "allowed_origins"} <= columns
    command.downgrade(config, "0006")
    columns = {c["name"] for c in inspect(create_engine(url)).get_columns("api_keys")}
    assert not {"scope", "allowed_origins"} & columns
    command.upgrade(config, "head")
