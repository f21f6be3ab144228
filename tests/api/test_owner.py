"""Owners, audit events and what a document's public shape tells, over real HTTP on PostgreSQL:
an owner never loses its own document; every change is an audit event in its transaction (an
admin acting on another's document marked ``override``); ``reused_from`` never names a
document the caller cannot read."""

from __future__ import annotations

import pytest

from core.db.events import list_events
from core.db.session import transaction
from tests.api.world import World, upload, wait_terminal
from tests.files import long_text
from tests.live import ThreadServer
from tests.support import make_settings


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    with ThreadServer(
        make_settings(tmp_path_factory.mktemp("owner"), database={"url": pg_url})
    ) as srv:
        yield srv


@pytest.fixture(scope="module")
def world(server: ThreadServer) -> World:
    return World(server)


def events(server: ThreadServer, world: World, doc_id: str) -> list[tuple[str, dict]]:
    with transaction(server.container.sessions) as session:
        rows, _ = list_events(session, world.tenant_a.id, target_id=doc_id)
        return [(row.action, dict(row.details)) for row in reversed(rows)]


def test_an_owner_outside_the_group_keeps_reading_and_managing(
    server: ThreadServer, world: World
) -> None:
    body = ("合同条款：保密义务 confidentiality clause zqowner. " + long_text(3, seed=41)).encode()
    with world.client("carol") as carol, world.client("bob") as bob:
        # carol is not in eng, yet shares her upload with eng only.
        r = upload(carol, [("条款.txt", body)], access={"groups": [world.eng.id]})
        assert r.status_code == 202, r.text
        doc_id = r.json()["data"][0]["id"]
        assert wait_terminal(carol, doc_id)["status"] == "ready"
        assert doc_id in {d["id"] for d in carol.get("/v1/documents").json()["data"]}
        found = carol.post("/v1/search", json={"query": "保密义务 zqowner", "limit": 10})
        assert doc_id in {hit["document_id"] for hit in found.json()["results"]}
        assert bob.get(f"/v1/documents/{doc_id}").status_code == 200  # eng reads it too
        r = carol.patch(f"/v1/documents/{doc_id}/access", json={"groups": [world.eng.id]})
        assert r.status_code == 200, r.text
        r = carol.post(
            f"/v1/documents/{doc_id}/versions", files={"file": ("条款.txt", body + b"!")}
        )
        assert r.status_code == 202, r.text
        assert wait_terminal(carol, doc_id)["status"] == "ready"
        assert bob.delete(f"/v1/documents/{doc_id}").status_code == 403  # a reader, no owner
        assert carol.delete(f"/v1/documents/{doc_id}").status_code == 204
    actions = [action for action, _ in events(server, world, doc_id)]
    assert actions == ["document.upload", "document.access", "document.version", "document.delete"]


def test_every_change_is_an_audit_event_and_admin_overrides_are_marked(
    server: ThreadServer, world: World
) -> None:
    with world.client("carol") as carol, world.client("ann") as ann:
        doc_id = upload(carol, [("notes.txt", long_text(2, seed=42).encode())]).json()["data"][0][
            "id"
        ]
        assert wait_terminal(carol, doc_id)["status"] == "ready"
        r = ann.patch(f"/v1/documents/{doc_id}/access", json={"everyone": True})
        assert r.status_code == 200, r.text
        assert ann.delete(f"/v1/documents/{doc_id}").status_code == 204
    upload_event, access_event, delete_event = events(server, world, doc_id)
    assert upload_event[0] == "document.upload" and upload_event[1]["override"] is False
    assert upload_event[1]["access"] == [f"user:{world.ids['carol']}"]
    assert access_event[0] == "document.access" and access_event[1]["override"] is True
    assert access_event[1]["before"] == [f"user:{world.ids['carol']}"]
    assert access_event[1]["after"] == ["everyone"]
    assert delete_event == ("document.delete", delete_event[1])
    assert delete_event[1]["override"] is True and delete_event[1]["filename"] == "notes.txt"
    with transaction(server.container.sessions) as session:
        rows, _ = list_events(session, world.tenant_a.id, target_id=doc_id)
        assert {row.actor_id for row in rows} == {world.ids["carol"], world.ids["ann"]}


def test_reused_from_names_only_a_document_the_caller_may_read(
    server: ThreadServer, world: World
) -> None:
    body = ("Identical bytes 相同的字节 zqtwin. " + long_text(3, seed=43)).encode()
    with world.client("carol") as carol, world.client("bob") as bob:
        private = upload(carol, [("mine.txt", body)]).json()["data"][0]["id"]
        assert wait_terminal(carol, private)["status"] == "ready"
        own_copy = upload(carol, [("again.txt", body)]).json()["data"][0]["id"]
        assert wait_terminal(carol, own_copy)["reused_from"] == private
        bobs = upload(bob, [("bob.txt", body)]).json()["data"][0]["id"]
        final = wait_terminal(bob, bobs)
        assert final["status"] == "ready" and final["reused_from"] is None
        assert bob.get(f"/v1/documents/{private}").status_code == 404
        listed = {d["id"]: d for d in bob.get("/v1/documents").json()["data"]}
        assert listed[bobs]["reused_from"] is None
