"""The privacy model of the audit trail over real HTTP (docs/security.md): an admin never
obtains a question, a search query, an answer, an error text or the documents behind them;
an auditor reads them in full; a member reaches neither the audit trail nor an admin route."""

from __future__ import annotations

import uuid

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.access import Principal
from core.db import conversations, identity
from core.db import keys as key_queries
from core.db.session import transaction
from tests.api.test_admin import ADMIN_ROUTES
from tests.api.world import World
from tests.live import ThreadServer
from tests.support import make_settings

CONTENT_FIELDS = ("question", "search_query", "filters", "retrieved", "cited", "error", "answer")

# Text as users type it: Chinese and English, punctuation, newlines, emoji.
_text = st.text(
    alphabet=st.one_of(
        st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
        st.characters(min_codepoint=0x20, max_codepoint=0x7E),
        st.sampled_from(["\n", "é", "😀", "，", "。"]),
    ),
    min_size=1,
    max_size=80,
)


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings_ = make_settings(tmp_path_factory.mktemp("audit"), database={"url": pg_url})
    with ThreadServer(settings_) as srv:
        yield srv


@pytest.fixture(scope="module")
def world(server: ThreadServer) -> World:
    world = World(server)
    with transaction(server.container.sessions) as s:  # the operator makes the auditors
        pepper = server.container.settings.secret_key
        aud = identity.create_user(s, world.tenant_a.id, "auditor", is_auditor=True)
        both = identity.create_user(s, world.tenant_a.id, "审计管理员", is_admin=True)
        identity.set_roles(s, both, is_admin=True, is_auditor=True, actor_id=None)
        for name, user in [("aud", aud), ("both", both)]:
            world.ids[name] = user.id
            world.keys[name] = key_queries.issue_api_key(s, user, pepper).plaintext
    return world


def record(server: ThreadServer, world: World, who: str, marker: str, text: str) -> str:
    """An answer record as ``services.answers`` writes it, every content field marked."""
    principal = Principal(world.tenant_a.id, world.ids[who])
    doc_id = str(uuid.uuid4())
    with transaction(server.container.sessions) as s:
        row = conversations.record_answer(
            s,
            principal,
            endpoint="chat",
            conversation_id=None,
            question=f"{marker}-q {text}",
            search_query=f"{marker}-sq {text}",
            filters={"tags": [f"{marker}-tag"]},
            retrieved=[{"chunk_id": f"{marker}-c", "doc_id": doc_id, "score": 0.5}],
            cited=[{"n": 1, "doc_id": doc_id}],
            outcome="error",
            error=f"{marker}-err {text}",
            answer=f"{marker}-a {text}",
            latency_ms=12,
        )
        return row.id


def fetch(world: World, who: str, user: str) -> httpx.Response:
    with world.client(who) as client:
        return client.get("/v1/audit/answers", params={"user_id": world.ids[user], "limit": 500})


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(text=_text, asker=st.sampled_from(["bob", "carol", "ann", "aud"]))
def test_an_admin_never_obtains_question_or_answer_text(
    server: ThreadServer, world: World, text: str, asker: str
) -> None:
    marker = "m" + uuid.uuid4().hex[:12]
    record_id = record(server, world, asker, marker, text)

    redacted = fetch(world, "ann", asker)
    assert redacted.status_code == 200, redacted.text
    assert marker not in redacted.text and text not in {
        v for rec in redacted.json()["data"] for v in rec.values() if isinstance(v, str)
    }
    body = redacted.json()
    assert body["redacted"] is True
    mine = next(r for r in body["data"] if r["id"] == record_id)
    assert all(mine[field] is None for field in CONTENT_FIELDS)
    # What an admin does see: who, when, where, how it went, how many passages.
    assert (mine["user_id"], mine["endpoint"], mine["outcome"]) == (
        world.ids[asker],
        "chat",
        "error",
    )
    assert (mine["retrieved_count"], mine["cited_count"], mine["latency_ms"]) == (1, 1, 12)

    for auditor in ("aud", "both"):  # an auditor, admin or not, reads the record in full
        full = fetch(world, auditor, asker).json()
        assert full["redacted"] is False
        whole = next(r for r in full["data"] if r["id"] == record_id)
        assert whole["question"] == f"{marker}-q {text}"
        assert whole["answer"] == f"{marker}-a {text}"
        assert whole["error"] == f"{marker}-err {text}"
        assert whole["retrieved"][0]["chunk_id"] == f"{marker}-c"

    # The other tenant's admin sees nothing of it.
    assert fetch(world, "zed", asker).json()["count"] == 0


_ids = st.one_of(
    st.uuids().map(str), st.text(alphabet="abcdef0123456789-", min_size=1, max_size=64)
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    route=st.sampled_from(ADMIN_ROUTES),
    ids=st.fixed_dictionaries({"user": _ids, "group": _ids, "key": _ids}),
    member=st.sampled_from(["bob", "carol"]),
    real_ids=st.booleans(),
)
def test_a_member_never_reaches_an_admin_route(
    world: World, route: tuple, ids: dict[str, str], member: str, real_ids: bool
) -> None:
    """Whatever the route and the ids, real or made up: 403 before any lookup, so the answer
    tells a member nothing about which ids exist; and the audit trail is closed to them."""
    method, path, body = route
    if real_ids:
        ids = {"user": world.ids["ann"], "group": world.eng.id, "key": ids["key"]}
    with world.client(member) as client:
        r = client.request(method, path.format(**ids), json=body)
        assert r.status_code == 403, (method, path, r.text)
        for audit in ("/v1/audit/answers", "/v1/audit/events"):
            assert client.get(audit).status_code == 403


def test_a_real_search_is_recorded_and_shown_by_role(world: World) -> None:
    marker = "honeybee" + uuid.uuid4().hex[:8]
    with world.client("carol") as carol:
        r = carol.post("/v1/search", json={"query": f"{marker} almond orchards"})
        assert r.status_code == 200, r.text
    redacted = fetch(world, "ann", "carol")
    assert marker not in redacted.text
    full = fetch(world, "aud", "carol").json()["data"]
    assert any(rec["question"] == f"{marker} almond orchards" for rec in full)


def test_auditors_read_events_but_cannot_read_private_documents(world: World) -> None:
    with world.client("ann") as ann:
        r = ann.post("/v1/documents", files=[("files", ("私人.txt", "ann 的私人笔记".encode()))])
        assert r.status_code == 202, r.text
        doc_id = r.json()["data"][0]["id"]
    with world.client("aud") as aud:
        assert aud.get(f"/v1/documents/{doc_id}").status_code == 404
        assert doc_id not in {d["id"] for d in aud.get("/v1/documents").json()["data"]}
        r = aud.get("/v1/audit/events", params={"action": "user.roles"})
        assert r.status_code == 200
        assert world.ids["both"] in {e["target_id"] for e in r.json()["data"]}
