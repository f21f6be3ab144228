"""Property-based isolation tests over real HTTP: random tenants, users, groups, documents and
access lists; whatever a user asks, nothing comes back from a document they may not read, on
/v1/search, /v1/chat and /v1/chat/completions alike.

Each example builds a fresh world on the running server (users and groups in PostgreSQL,
documents uploaded through the API and ingested for real), then every user searches for every
document's secret codeword, in both tenants, the way an attacker would; one user also asks
the answering endpoints (a real llama.cpp model) for a codeword they may not read.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass, field

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from core.db import groups as group_queries
from core.db import identity
from core.db import keys as key_queries
from core.db.models import AnswerRecord
from core.db.session import transaction
from llm.local_server import LlamaCppServer
from tests.api.world import upload, wait_terminal
from tests.index.contract.common import permission_examples
from tests.live import ThreadServer
from tests.support import make_settings

# Every example answers with the real model on the llama.cpp server.
pytestmark = pytest.mark.slow


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
    # A second secret, only in the body: a question naming the codeword may be echoed back,
    # this may only come back through the document itself.
    amount: str
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
    pepper = server.container.settings.secret_key
    group_ids: dict[tuple[int, int], str] = {}
    with transaction(server.container.sessions) as s:
        for t, spec in enumerate(specs):
            tenant = identity.create_tenant(s, f"perm-{run}-{t}")
            owner = identity.create_user(s, tenant.id, "owner", is_admin=True)
            world.owner_keys[t] = key_queries.issue_api_key(s, owner, pepper).plaintext
            world.user_ids[f"{t}/owner"] = owner.id
            world.keys[f"{t}/owner"] = world.owner_keys[t]
            groups = [group_queries.create_group(s, tenant.id, f"g{g}") for g in range(spec.groups)]
            for g, group in enumerate(groups):
                group_ids[(t, g)] = group.id
            for u in range(spec.users):
                user = identity.create_user(s, tenant.id, f"u{u}")
                for g in spec.memberships[u]:
                    group_queries.add_member(s, user, groups[g])
                world.keys[f"{t}/u{u}"] = key_queries.issue_api_key(s, user, pepper).plaintext
                world.user_ids[f"{t}/u{u}"] = user.id
    for t, spec in enumerate(specs):
        with client(server, world.owner_keys[t]) as owner:
            for doc in spec.docs:
                codeword = "zq" + secrets.token_hex(5)
                amount = str(secrets.randbelow(9_000_000) + 1_000_000)
                body = (
                    f"Ledger entry {codeword}\n\nThe codeword ledger records {codeword} for the "
                    f"quarterly audit of tenant {t}: a payment of {amount} euros."
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
                # The uploader owns every document: an owner always reads its own.
                readers.add(f"{t}/owner")
                world.docs.append(LiveDoc(r.json()["data"][0]["id"], t, codeword, amount, readers))
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


def check_answers(server: ThreadServer, world: LiveWorld, user: str, target: LiveDoc) -> None:
    """Ask both answering endpoints about ``target``: citations, the audit trail of what was
    retrieved, and the answer text must only ever touch documents ``user`` may read."""
    readable = {d.id for d in world.docs if user in d.readers and not d.deleted}
    unreadable_amounts = {d.amount for d in world.docs if d.id not in readable}
    question = f"How many euros does the codeword ledger record for {target.codeword}?"
    with client(server, world.keys[user]) as http:
        r = http.post("/v1/chat", json={"message": question, "stream": False})
        assert r.status_code == 200, r.text
        chat = r.json()
        assert {c["document_id"] for c in chat["citations"]} <= readable
        r = http.post(
            "/v1/chat/completions",
            json={"model": "zhiku", "messages": [{"role": "user", "content": question}]},
        )
        assert r.status_code == 200, r.text
        completion = r.json()
        assert {c["document_id"] for c in completion["citations"]} <= readable
        texts = [chat["answer"], completion["choices"][0]["message"]["content"]]
    for text in texts:
        leaked = {a for a in unreadable_amounts if a in text.replace(",", "")}
        assert not leaked, (user, text)
    with transaction(server.container.sessions) as session:
        rows = session.scalars(
            select(AnswerRecord).where(AnswerRecord.user_id == world.user_ids[user])
        ).all()
        assert {r.endpoint for r in rows} >= {"chat", "chat.completions"}
        for row in rows:
            assert {hit["doc_id"] for hit in row.retrieved} <= readable | {
                d.id for d in world.docs if d.deleted
            }


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
def server(pg_url, tmp_path_factory, llama_server: LlamaCppServer):  # type: ignore[no-untyped-def]
    settings_ = make_settings(
        tmp_path_factory.mktemp("perm"),
        database={"url": pg_url},
        llm={"backends": [llama_server.backend_settings(read_timeout_s=180)]},
        # Short prompts: the CPU model reads every passage before it answers.
        retrieval={"context_tokens": 300, "max_passages": 3},
    )
    with ThreadServer(settings_) as srv:
        yield srv


@settings(
    # ``ZHIKU_PERMISSION_EXAMPLES`` raises it (each example ingests and answers for real).
    max_examples=permission_examples(8),
    deadline=None,
    # No shrinking: each example costs seconds of real ingestion and answering; the failing
    # world is printed as it was drawn.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(specs=st.lists(tenant_specs(), min_size=2, max_size=2), data=st.data())
def test_no_user_ever_sees_a_document_they_may_not_read(
    server: ThreadServer, specs: list[TenantSpec], data: st.DataObject
) -> None:
    world = build_world(server, specs)
    check_isolation(server, world)
    asker = data.draw(st.sampled_from(sorted(world.keys)), label="asker")
    target = data.draw(st.sampled_from(world.docs), label="asked about")
    check_answers(server, world, asker, target)

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
