"""A small world of tenants, users, groups and keys on a running server, and upload helpers."""

from __future__ import annotations

import json
import time

import httpx

from core.db import groups as group_queries
from core.db import identity
from core.db import keys as key_queries
from core.db.session import transaction
from index.store import Scope
from tests.live import ThreadServer


class World:
    """Two tenants; in tenant A: owner ann (admin), bob in group eng, carol alone."""

    def __init__(self, server: ThreadServer) -> None:
        import uuid

        run = uuid.uuid4().hex[:6]
        sessions = server.container.sessions
        pepper = server.container.settings.secret_key
        with transaction(sessions) as s:
            self.tenant_a = identity.create_tenant(s, f"a-{run}")
            self.tenant_b = identity.create_tenant(s, f"b-{run}")
            ann = identity.create_user(s, self.tenant_a.id, "ann", is_admin=True)
            bob = identity.create_user(s, self.tenant_a.id, "bob")
            carol = identity.create_user(s, self.tenant_a.id, "carol")
            zed = identity.create_user(s, self.tenant_b.id, "zed", is_admin=True)
            self.eng = group_queries.create_group(s, self.tenant_a.id, "eng")
            group_queries.add_member(s, bob, self.eng)
            self.ids = {"ann": ann.id, "bob": bob.id, "carol": carol.id, "zed": zed.id}
            self.keys = {
                name: key_queries.issue_api_key(s, user, pepper).plaintext
                for name, user in [("ann", ann), ("bob", bob), ("carol", carol), ("zed", zed)]
            }
        self.url = server.url

    def client(self, who: str) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.keys[who]}"}, timeout=60
        )


def upload(  # type: ignore[no-untyped-def]
    client: httpx.Client,
    files: list[tuple[str, bytes]],
    access: dict | None = None,
    tags: str | None = None,
):
    data = {"access": json.dumps(access)} if access is not None else {}
    if tags is not None:
        data["tags"] = tags
    return client.post(
        "/v1/documents", files=[("files", (name, body)) for name, body in files], data=data
    )


def wait_terminal(client: httpx.Client, doc_id: str, timeout_s: float = 300) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        doc = client.get(f"/v1/documents/{doc_id}").json()
        if doc["status"] in ("ready", "failed"):
            return doc
        time.sleep(0.3)
    raise TimeoutError(f"document {doc_id} still {doc['status']}/{doc['stage']}")


def chunks_of(server: ThreadServer, tenant_id: str, doc_id: str, vectors: bool = False):  # type: ignore[no-untyped-def]
    return server.container.store.document_chunks(
        Scope.admin(tenant_id), doc_id, with_vectors=vectors
    )


def seeded_world(
    server: ThreadServer, public: dict[str, str], private: tuple[str, str] | None = None
) -> World:
    """A world where ann uploaded ``public`` (readable by everyone) and ``private`` (ann's
    own), all ready; ``world.doc_ids`` maps file names to ids."""
    world = World(server)
    with world.client("ann") as ann:
        r = upload(ann, [(n, b.encode()) for n, b in public.items()], access={"everyone": True})
        assert r.status_code == 202, r.text
        ids = {d["filename"]: d["id"] for d in r.json()["data"]}
        if private is not None:
            r = upload(ann, [(private[0], private[1].encode())])  # no access given: ann only
            assert r.status_code == 202, r.text
            ids[private[0]] = r.json()["data"][0]["id"]
        for doc_id in ids.values():
            assert wait_terminal(ann, doc_id)["status"] == "ready"
    world.doc_ids = ids  # type: ignore[attr-defined]
    return world
