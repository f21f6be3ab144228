"""The documents API over real HTTP: uvicorn on loopback, PostgreSQL, the embedded Qdrant
engine and in-process ingestion (the embedded default, with PostgreSQL for metadata)."""

from __future__ import annotations

import httpx
import pytest

from index import types as fields
from tests.api.world import World, chunks_of, upload, wait_terminal
from tests.files import encrypted_pdf, long_text, text_pdf, zip_bomb_docx
from tests.live import ThreadServer, wait_http
from tests.support import make_settings, shared_data_dir


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    data_dir = tmp_path_factory.mktemp("api")
    settings = make_settings(
        data_dir,
        database={"url": pg_url},
        limits={"max_upload_bytes": 3_000_000, "max_unpacked_bytes": 50_000_000},
        worker={"stale_after_s": 30, "sweep_interval_s": 2},
    )
    with ThreadServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def world(server) -> World:  # type: ignore[no-untyped-def]
    return World(server)


def test_every_route_needs_a_key(server: ThreadServer) -> None:
    for method, path in [
        ("GET", "/v1/documents"),
        ("GET", "/v1/documents/x"),
        ("POST", "/v1/documents"),
        ("PATCH", "/v1/documents/x/access"),
        ("DELETE", "/v1/documents/x"),
    ]:
        r = httpx.request(method, server.url + path)
        assert r.status_code == 401, (method, path)
        assert r.headers["www-authenticate"] == "Bearer"
        r = httpx.request(method, server.url + path, headers={"Authorization": "Bearer zk_a_b"})
        assert r.status_code == 401
    assert httpx.get(server.url + "/health/live").json() == {"status": "ok"}
    wait_http(server.url + "/health/ready", ok_only=True)
    ready = httpx.get(server.url + "/health/ready")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"


def test_upload_to_ready_with_payloads(server: ThreadServer, world: World) -> None:
    docx = shared_data_dir() / "docs/docling-test-data/docx/sources/word_sample.docx"
    text = long_text(12, seed=1)
    with world.client("ann") as ann:
        r = upload(
            ann,
            [("handbook.txt", text.encode()), ("sample.docx", docx.read_bytes())],
            access={"groups": [world.eng.id]},
        )
        assert r.status_code == 202, r.text
        docs = r.json()["data"]
        assert [d["status"] for d in docs] == ["queued", "queued"]
        for doc in docs:
            final = wait_terminal(ann, doc["id"])
            assert final["status"] == "ready", final["error"]
            assert final["progress"]["percent"] == 100.0
            assert final["progress"]["chunks_total"] > 0
            chunks = chunks_of(server, world.tenant_a.id, doc["id"])
            assert len(chunks) == final["progress"]["chunks_total"]
            assert [c.payload[fields.POSITION] for c in chunks] == list(range(len(chunks)))
            for c in chunks:
                p = c.payload
                assert p[fields.TENANT] == world.tenant_a.id
                assert p[fields.DOC_ID] == doc["id"]
                assert p[fields.VERSION] == 1
                # The list, plus the owner's own token: an owner never loses its document.
                assert sorted(p[fields.ACCESS]) == [
                    f"group:{world.eng.id}",
                    f"user:{world.ids['ann']}",
                ]
                assert p[fields.TEXT].strip()
        handbook = chunks_of(server, world.tenant_a.id, docs[0]["id"])
        joined = " ".join(c.payload[fields.TEXT] for c in handbook)
        assert "Paragraph 11 of the generated handbook" in joined
    # Visibility: bob (in eng) sees both, carol and the other tenant see nothing.
    with world.client("bob") as bob, world.client("carol") as carol, world.client("zed") as zed:
        assert {d["id"] for d in bob.get("/v1/documents").json()["data"]} >= {d["id"] for d in docs}
        assert bob.get(f"/v1/documents/{docs[0]['id']}").status_code == 200
        for other in (carol, zed):
            listed = {d["id"] for d in other.get("/v1/documents").json()["data"]}
            assert not listed & {d["id"] for d in docs}
            assert other.get(f"/v1/documents/{docs[0]['id']}").status_code == 404
        # Readers cannot change or delete what they do not own.
        assert (
            bob.patch(f"/v1/documents/{docs[0]['id']}/access", json={"everyone": True}).status_code
            == 403
        )
        assert bob.delete(f"/v1/documents/{docs[0]['id']}").status_code == 403
        assert zed.delete(f"/v1/documents/{docs[0]['id']}").status_code == 404


def test_list_is_paged_and_filtered_by_status(world: World) -> None:
    with world.client("carol") as carol:
        ids = []
        for i in range(3):
            r = upload(carol, [(f"note{i}.txt", f"Carol's private note number {i}.".encode())])
            ids.append(r.json()["data"][0]["id"])
        for doc_id in ids:
            assert wait_terminal(carol, doc_id)["status"] == "ready"
        page = carol.get("/v1/documents", params={"limit": 2, "status": "ready"}).json()
        assert page["count"] == 3 and len(page["data"]) == 2
        rest = carol.get("/v1/documents", params={"offset": 2, "status": "ready"}).json()
        assert len(rest["data"]) == 1
        assert carol.get("/v1/documents", params={"status": "failed"}).json()["count"] == 0
        assert carol.get("/v1/documents", params={"status": "bogus"}).status_code == 422


def test_changing_access_rewrites_every_chunk(server: ThreadServer, world: World) -> None:
    with world.client("ann") as ann, world.client("carol") as carol:
        r = upload(
            ann, [("policy.txt", long_text(8, seed=2).encode())], access={"groups": [world.eng.id]}
        )
        doc_id = r.json()["data"][0]["id"]
        assert wait_terminal(ann, doc_id)["status"] == "ready"
        before = {c.id: c.dense for c in chunks_of(server, world.tenant_a.id, doc_id, vectors=True)}
        assert carol.get(f"/v1/documents/{doc_id}").status_code == 404
        r = ann.patch(
            f"/v1/documents/{doc_id}/access",
            json={"users": [world.ids["carol"]], "groups": []},
        )
        assert r.status_code == 200, r.text
        assert r.json()["access"] == {
            "users": [world.ids["carol"]],
            "groups": [],
            "everyone": False,
        }
        after = chunks_of(server, world.tenant_a.id, doc_id, vectors=True)
        assert {c.id for c in after} == set(before)
        for c in after:
            assert c.payload[fields.ACCESS] == sorted(
                [f"user:{world.ids['carol']}", f"user:{world.ids['ann']}"]
            )
            assert c.dense == pytest.approx(before[c.id])  # no re-embedding
        assert carol.get(f"/v1/documents/{doc_id}").status_code == 200
        # Unknown principals and empty lists are refused; nothing changes.
        assert (
            ann.patch(f"/v1/documents/{doc_id}/access", json={"users": ["nobody"]}).status_code
            == 404
        )
        assert ann.patch(f"/v1/documents/{doc_id}/access", json={}).status_code == 400
        assert carol.get(f"/v1/documents/{doc_id}").status_code == 200


def test_delete_removes_vectors_blob_and_row(server: ThreadServer, world: World) -> None:
    with world.client("ann") as ann:
        r = upload(ann, [("old.txt", long_text(6, seed=3).encode())])
        doc_id = r.json()["data"][0]["id"]
        assert wait_terminal(ann, doc_id)["status"] == "ready"
        assert chunks_of(server, world.tenant_a.id, doc_id)
        blob_dir = server.container.settings.blob_path / world.tenant_a.id / doc_id
        assert blob_dir.is_dir()
        assert ann.delete(f"/v1/documents/{doc_id}").status_code == 204
        assert chunks_of(server, world.tenant_a.id, doc_id) == []
        assert not blob_dir.exists()
        assert ann.get(f"/v1/documents/{doc_id}").status_code == 404
        assert ann.delete(f"/v1/documents/{doc_id}").status_code == 404


def test_identical_upload_reuses_vectors(server: ThreadServer, world: World) -> None:
    body = long_text(5, seed=4).encode()
    with world.client("ann") as ann:
        first = upload(ann, [("a.txt", body)]).json()["data"][0]
        assert wait_terminal(ann, first["id"])["status"] == "ready"
        second = upload(ann, [("copy.txt", body)], access={"everyone": True}).json()["data"][0]
        final = wait_terminal(ann, second["id"])
        assert final["status"] == "ready" and final["reused_from"] == first["id"]
        a = chunks_of(server, world.tenant_a.id, first["id"], vectors=True)
        b = chunks_of(server, world.tenant_a.id, second["id"], vectors=True)
        assert len(a) == len(b) > 0
        assert [x.dense for x in a] == [y.dense for y in b]
        assert all(c.payload[fields.ACCESS] == ["everyone", f"user:{world.ids['ann']}"] for c in b)
        assert all(c.payload[fields.DOC_ID] == second["id"] for c in b)


# --- bad input: a clear 4xx or a failed document, and nothing else lost -------------------


def test_bad_uploads_get_clear_errors_and_good_files_still_go_through(
    server: ThreadServer, world: World
) -> None:
    cases = {
        "empty.txt": (b"", 400, "empty"),
        "program.exe": (b"MZ\x90\x00" + bytes(range(256)) * 8, 415, "unsupported"),
        "huge.txt": (b"a" * 3_000_001, 413, "larger"),
        "../../etc/passwd.txt": (b"root:x:0:0", 400, "path separators"),
        "bomb.docx": (zip_bomb_docx(120), None, None),
    }
    good = ("fine.txt", b"This document is perfectly fine and must be indexed.")
    with world.client("ann") as ann:
        r = upload(ann, [(n, b) for n, (b, _, _) in cases.items()] + [good])
        assert r.status_code == 202, r.text
        body = r.json()
        errors = {e["filename"]: e for e in body["errors"]}
        for name, (_, code, words) in cases.items():
            if code is None:
                continue
            assert errors[name]["status_code"] == code, errors[name]
            assert words in errors[name]["detail"].lower()
        assert "bomb.docx" in errors and errors["bomb.docx"]["status_code"] in (400, 413)
        assert [d["filename"] for d in body["data"]] == ["fine.txt"]
        assert wait_terminal(ann, body["data"][0]["id"])["status"] == "ready"
        # A request where every file is bad gets the error status itself.
        only_bad = upload(ann, [("empty.txt", b"")])
        assert only_bad.status_code == 400 and "empty" in only_bad.json()["detail"]
        # Bad access JSON is a 400, not a 500.
        r = ann.post("/v1/documents", files=[("files", ("x.txt", b"x"))], data={"access": "{nope"})
        assert r.status_code == 400


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("corrupt.pdf", lambda: b"%PDF-1.7\n" + bytes(range(256)) * 40, ""),
        ("locked.pdf", lambda: encrypted_pdf(["Top secret quarterly numbers"]), "password"),
    ],
)
def test_unparseable_documents_fail_with_a_reason(
    server: ThreadServer,
    world: World,
    name: str,
    make,
    reason: str,  # type: ignore[no-untyped-def]
) -> None:
    with world.client("ann") as ann:
        r = upload(
            ann, [(name, make()), ("ok.pdf", text_pdf(["A healthy PDF about solar panels."]))]
        )
        assert r.status_code == 202, r.text
        bad, ok = r.json()["data"]
        failed = wait_terminal(ann, bad["id"])
        assert failed["status"] == "failed"
        assert failed["error"] and reason in failed["error"].lower()
        assert "internal error" not in failed["error"]
        assert wait_terminal(ann, ok["id"])["status"] == "ready"
        assert chunks_of(server, world.tenant_a.id, bad["id"]) == []
    assert httpx.get(server.url + "/health/live").status_code == 200


def test_password_protected_office_file_fails_with_a_reason(world: World) -> None:
    path = shared_data_dir() / "docs/unstructured-example-docs/password_protected.xlsx"
    with world.client("ann") as ann:
        r = upload(ann, [(path.name, path.read_bytes())])
        if r.status_code == 202:
            failed = wait_terminal(ann, r.json()["data"][0]["id"])
            assert failed["status"] == "failed" and "password" in failed["error"].lower()
        else:
            assert r.status_code in (400, 415, 422) and "password" in r.json()["detail"].lower()


def test_ingestion_job_history_is_recorded(server: ThreadServer, world: World) -> None:
    from core.db import jobs as job_queries

    with world.client("ann") as ann:
        doc_id = upload(ann, [("jobs.txt", b"Job history matters for operators.")]).json()["data"][
            0
        ]["id"]
        assert wait_terminal(ann, doc_id)["status"] == "ready"
    with server.container.sessions() as s:
        jobs = job_queries.jobs_for(s, doc_id)
    assert [(j.stage, j.status) for j in jobs] == [("parsing", "done"), ("embedding", "done")]


def test_new_version_replaces_the_chunks(server: ThreadServer, world: World) -> None:
    with world.client("ann") as ann, world.client("bob") as bob:
        first = upload(ann, [("spec.md", b"# Spec\n\nThe valve opens at 3 bar.\n")]).json()["data"][
            0
        ]
        assert wait_terminal(ann, first["id"])["status"] == "ready"
        r = ann.post(
            f"/v1/documents/{first['id']}/versions",
            files={"file": ("spec-v2.md", b"# Spec\n\nThe valve now opens at 5 bar.\n")},
        )
        assert r.status_code == 202, r.text
        assert r.json()["version"] == 2 and r.json()["status"] == "queued"
        final = wait_terminal(ann, first["id"])
        assert final["status"] == "ready" and final["version"] == 2
        assert final["filename"] == "spec-v2.md"
        chunks = chunks_of(server, world.tenant_a.id, first["id"])
        assert chunks and {c.payload[fields.VERSION] for c in chunks} == {2}
        text = " ".join(c.payload[fields.TEXT] for c in chunks)
        assert "5 bar" in text and "3 bar" not in text
        blob_root = server.container.settings.blob_path / world.tenant_a.id / first["id"]
        assert sorted(p.name for p in blob_root.iterdir()) == ["v2"]
        # Only managers may replace content; bad files are refused like uploads.
        assert (
            bob.post(
                f"/v1/documents/{first['id']}/versions", files={"file": ("x.md", b"# x")}
            ).status_code
            == 404
        )
        empty = ann.post(f"/v1/documents/{first['id']}/versions", files={"file": ("x.md", b"")})
        assert empty.status_code == 400 and "empty" in empty.json()["detail"]


def test_documents_record_their_real_mime_type(world: World) -> None:
    with world.client("carol") as carol:
        doc = upload(carol, [("table.csv", b"name,qty\nbolt,4\nnut,9\n")]).json()["data"][0]
        assert doc["mime_type"] == "text/csv"
        assert doc["title"] == "table" and doc["size_bytes"] == 22
        assert len(doc["content_hash"]) == 64
