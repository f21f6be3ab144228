"""Property: a browser session of tenant A never reads tenant B's documents, whichever route
it tries, admin or not, even documents B shares with "everyone" (docs/security.md)."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.db import identity, web_sessions
from core.db import keys as key_queries
from core.db.models import utcnow
from core.db.session import transaction
from services import passwords
from tests.api.world import upload, wait_terminal
from tests.live import ThreadServer
from tests.support import make_settings

PASSWORD = "a session's long password"


@dataclass
class Setting:
    url: str
    tenant_a: str
    b_docs: list[tuple[str, str]]  # (document id, its codeword)
    b_key: str


@pytest.fixture(scope="module")
def world(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings_ = make_settings(tmp_path_factory.mktemp("isolation"), database={"url": pg_url})
    with ThreadServer(settings_) as server:
        run = uuid.uuid4().hex[:6]
        with transaction(server.container.sessions) as s:
            a = identity.create_tenant(s, f"甲-{run}")
            b = identity.create_tenant(s, f"乙-{run}")
            for name, admin in (("amy", True), ("王芳", False)):
                user = identity.create_user(s, a.id, name, is_admin=admin)
                hashed = passwords.hash_password(PASSWORD)
                web_sessions.set_password_hash(s, user, hashed, now=utcnow(), actor_id=None)
            owner = identity.create_user(s, b.id, "owner", is_admin=True)
            b_key = key_queries.issue_api_key(s, owner, server.container.settings.secret_key)
        docs = []
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {b_key.plaintext}"}, timeout=120
        ) as b_client:
            for n in range(2):
                codeword = "zq" + secrets.token_hex(5)
                body = f"Secret plan {codeword} of tenant B, number {n}.".encode()
                r = upload(b_client, [(f"{codeword}.txt", body)], {"everyone": True})
                assert r.status_code == 202, r.text
                docs.append((r.json()["data"][0]["id"], codeword))
            for doc_id, codeword in docs:
                assert wait_terminal(b_client, doc_id)["status"] == "ready"
                # The search that tenant A tries below does find it, for tenant B.
                r = b_client.post("/v1/search", json={"query": f"{codeword} secret plan"})
                assert doc_id in {hit["document_id"] for hit in r.json()["results"]}
        yield Setting(server.url, a.name, docs, b_key.plaintext)


def session_of(client: httpx.Client, world: Setting, who: str) -> str:
    r = client.post(
        "/v1/auth/login", json={"tenant": world.tenant_a, "username": who, "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    return r.json()["csrf_token"]


ROUTES = st.sampled_from(["get", "list", "search", "access", "delete", "version"])


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(who=st.sampled_from(["amy", "王芳"]), doc=st.integers(0, 1), route=ROUTES)
def test_a_session_never_reaches_another_tenants_documents(
    world: Setting, who: str, doc: int, route: str
) -> None:
    doc_id, codeword = world.b_docs[doc]
    with httpx.Client(base_url=world.url, headers={"Origin": world.url}, timeout=120) as client:
        csrf = session_of(client, world, who)
        csrf_header = {"X-CSRF-Token": csrf}
        if route == "get":
            assert client.get(f"/v1/documents/{doc_id}").status_code == 404
        elif route == "list":
            r = client.get("/v1/documents", params={"limit": 500})
            assert r.status_code == 200 and doc_id not in r.text
        elif route == "search":
            r = client.post(
                "/v1/search", json={"query": f"{codeword} secret plan"}, headers=csrf_header
            )
            assert r.status_code == 200, r.text
            assert r.json()["results"] == []
        elif route == "access":
            r = client.patch(
                f"/v1/documents/{doc_id}/access", json={"everyone": True}, headers=csrf_header
            )
            assert r.status_code == 404
        elif route == "delete":
            r = client.delete(f"/v1/documents/{doc_id}", headers=csrf_header)
            assert r.status_code == 404
        else:
            r = client.post(
                f"/v1/documents/{doc_id}/versions",
                files={"file": ("new.txt", b"overwritten by tenant A")},
                headers=csrf_header,
            )
            assert r.status_code == 404
    # Tenant B's documents are untouched, whatever was tried.
    with httpx.Client(
        base_url=world.url, headers={"Authorization": f"Bearer {world.b_key}"}
    ) as b_client:
        r = b_client.get(f"/v1/documents/{doc_id}")
        assert r.status_code == 200 and r.json()["version"] == 1
