"""Property-based isolation tests over real HTTP: random tenants, users, groups, documents and
access lists; whatever a user asks, nothing comes back from a document they may not read.

Each example builds a fresh world on the running server (users and groups in PostgreSQL,
documents uploaded through the API and ingested for real), then every user asks for every
document's secret codeword, in both tenants, the way an attacker would.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.db import identity
from core.db.session import transaction
from tests.api.world import upload, wait_terminal
from tests.conftest import make_settings
from tests.live import ThreadServer


@dataclass
class DocSpec:
    everyone: bool
    users: frozenset[int]
    groups: frozenset[int]


@dataclass
class TenantSpec:
    users: int
    # memberships[u] = the groups user u belongs to
    memberships: list[frozenset[int]]
    groups: int
    docs: list[DocSpec]


@st.composite
def tenant_specs(draw: st.DrawFn) -> TenantSpec:
    users = draw(st.integers(1, 3))
    groups = draw(st.integers(0, 2))
    memberships = [
        draw(st.frozensets(st.integers(0, groups - 1), max_size=groups)) if groups else frozenset()
        for _ in range(users)
    ]
    docs = draw(
        st.lists(
            st.builds(
                DocSpec,
                everyone=st.booleans(),
                users=st.frozensets(st.integers(0, users - 1), max_size=users),
                groups=st.frozensets(st.integers(0, groups - 1), max_size=groups)
                if groups
                else st.just(frozenset()),
            ),
            min_size=1,
            max_size=4,
        )
    )
    return TenantSpec(users, memberships, groups, docs)


@dataclass
class LiveDoc:
    id: str
    tenant: int
    codeword: str
    readers: set[str]  # user names who may read it
    deleted: bool = False


@dataclass
class LiveWorld:
    keys: dict[str, str] = field(default_factory=dict)  # user name -> API key
    owner_keys: dict[int, str] = field(default_factory=dict)  # tenant -> uploader's key
    user_ids: dict[str, str] = field(default_factory=dict)
    docs: list[LiveDoc] = field(default_factory=list)


def build_world(server: ThreadServer, specs: list[TenantSpec]) -> LiveWorld:
    world = LiveWorld()
    run = uuid.uuid4().hex[:8]
    pepper = server.state.settings.secret_key
    group_ids: dict[tuple[int, int], str] = {}
    with transaction(server.state.services.sessions) as s:
        for t, spec in enumerate(specs):
            tenant = identity.create_tenant(s, f"perm-{run}-{t}")
            owner = identity.create_user(s, tenant.id, "owner", is_admin=True)
            world.owner_keys[t] = identity.issue_api_key(s, owner, pepper).plaintext
            world.user_ids[f"{t}/owner"] = owner.id
            world.keys[f"{t}/owner"] = world.owner_keys[t]
            groups = [identity.create_group(s, tenant.id, f"g{g}") for g in range(spec.groups)]
            for g, group in enumerate(groups):
                group_ids[(t, g)] = group.id
            for u in range(spec.users):
                user = identity.create_user(s, tenant.id, f"u{u}")
                for g in spec.memberships[u]:
                    identity.add_member(s, user, groups[g])
                world.keys[f"{t}/u{u}"] = identity.issue_api_key(s, user, pepper).plaintext
                world.user_ids[f"{t}/u{u}"] = user.id
    for t, spec in enumerate(specs):
        with client(server, world.owner_keys[t]) as owner:
            for doc in spec.docs:
                codeword = "zq" + secrets.token_hex(5)
                body = (
                    f"Ledger entry {codeword}\n\nThe codeword ledger records {codeword} for the "
                    f"quarterly audit of tenant {t}."
                )
                access = {
                    "everyone": doc.everyone,
                    "users": [world.user_ids[f"{t}/u{u}"] for u in sorted(doc.users)],
                    "groups": [group_ids[(t, g)] for g in sorted(doc.groups)],
                }
                empty = not (doc.everyone or doc.users or doc.groups)
                r = upload(owner, [(f"{codeword}.txt", body.encode())], None if empty else access)
                assert r.status_code == 202, r.text
                readers = {
                    f"{t}/u{u}"
                    for u in range(spec.users)
                    if doc.everyone or u in doc.users or spec.memberships[u] & doc.groups
                }
                if empty or doc.everyone:
                    readers.add(f"{t}/owner")
                world.docs.append(LiveDoc(r.json()["data"][0]["id"], t, codeword, readers))
            for live in world.docs:
                if live.tenant == t:
                    assert wait_terminal(owner, live.id)["status"] == "ready"
    return world


def client(server: ThreadServer, key: str) -> httpx.Client:
    return httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=120
    )


def search_docs(http: httpx.Client, query: str) -> set[str]:
    r = http.post("/v1/search", json={"query": query, "limit": 50})
    assert r.status_code == 200, r.text
    return {hit["document_id"] for hit in r.json()["results"]}


def check_isolation(server: ThreadServer, world: LiveWorld) -> None:
    for user, key in world.keys.items():
        readable = {d.id for d in world.docs if user in d.readers and not d.deleted}
        with client(server, key) as http:
            # Broad query: everything readable comes back, nothing else.
            assert search_docs(http, "codeword ledger quarterly audit") == readable, user
            # Targeted: each document's own secret word, readable or not.
            for doc in world.docs:
                found = search_docs(http, f"{doc.codeword} ledger")
                assert found <= readable, (user, doc)


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings_ = make_settings(tmp_path_factory.mktemp("perm"), database={"url": pg_url})
    with ThreadServer(settings_) as srv:
        yield srv


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(specs=st.lists(tenant_specs(), min_size=2, max_size=2), data=st.data())
def test_no_user_ever_sees_a_document_they_may_not_read(
    server: ThreadServer, specs: list[TenantSpec], data: st.DataObject
) -> None:
    world = build_world(server, specs)
    check_isolation(server, world)

    # Revoking access and deleting take effect on the very next query.
    victim = data.draw(st.sampled_from(world.docs), label="revoked")
    owner_id = world.user_ids[f"{victim.tenant}/owner"]
    with client(server, world.owner_keys[victim.tenant]) as owner:
        r = owner.patch(f"/v1/documents/{victim.id}/access", json={"users": [owner_id]})
        assert r.status_code == 200, r.text
    victim.readers = {f"{victim.tenant}/owner"}
    gone = data.draw(st.sampled_from(world.docs), label="deleted")
    with client(server, world.owner_keys[gone.tenant]) as owner:
        assert owner.delete(f"/v1/documents/{gone.id}").status_code == 204
    gone.deleted = True
    check_isolation(server, world)
