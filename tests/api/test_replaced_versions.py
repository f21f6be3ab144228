"""Passages of a replaced version after failed re-uploads, and the name it is shown under.

Two failed re-uploads in a row: search keeps answering with the last ready version, whose
passages must open. A failed version whose parse kept its chunks (it failed while embedding)
was taken for "the version before the current one": its pages were found first, and the ready
version's citations answered 404. A version replaced before its name was kept beside its bytes
(``about.json``) was shown as ``version-N``: its name is now recovered from the audit trail of
its upload, and where nothing recorded it, the passage says the name is unknown (null) rather
than inventing one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import delete

from core.blobs import about_key, original_key
from core.chunk_pages import kept_count, write_chunks
from core.db.models import AuditEvent
from core.db.session import transaction
from tests.api.world import World, upload, wait_terminal
from tests.live import ThreadServer
from tests.support import make_settings

VERSION_ONE = {
    "en": ("canteen.txt", "The staff canteen serves lunch from half past eleven to half past one."),
    "zh-CN": ("食堂.txt", "员工食堂午餐供应时间为十一点半至一点半，每份套餐十五元。"),
    "zh-TW": ("餐廳.txt", "員工餐廳午餐供應時間為十一點半至一點半，每份套餐新台幣一百元。"),
}
QUESTIONS = {"en": "canteen lunch time", "zh-CN": "食堂午餐时间", "zh-TW": "餐廳午餐時間"}
NEW_NAMES = {"en": "canteen-2027.txt", "zh-CN": "食堂2027.txt", "zh-TW": "餐廳2027.txt"}
UNREADABLE = b"   \n\n   \n"  # no text: the version fails at its parse
CORRUPT_PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog"  # cut short


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory) -> Iterator[ThreadServer]:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("replaced-versions"), database={"url": pg_url})
    with ThreadServer(settings) as live:
        yield live


@pytest.fixture(scope="module")
def world(server: ThreadServer) -> World:
    return World(server)


def _hit(client: httpx.Client, question: str, doc_id: str) -> dict:
    r = client.post("/v1/search", json={"query": question, "filters": {"document_ids": [doc_id]}})
    assert r.status_code == 200, r.text
    (hit,) = r.json()["results"][:1]
    return hit


def _ready_document(world: World, ann: httpx.Client, lang: str) -> str:
    name, text = VERSION_ONE[lang]
    r = upload(ann, [(name, text.encode())], access={"groups": [world.eng.id]})
    assert r.status_code == 202, r.text
    doc_id = r.json()["data"][0]["id"]
    assert wait_terminal(ann, doc_id)["status"] == "ready"
    return doc_id


def _failed_version(ann: httpx.Client, doc_id: str, name: str, data: bytes, version: int) -> None:
    r = ann.post(f"/v1/documents/{doc_id}/versions", files={"file": (name, data)})
    assert r.status_code == 202, r.text
    failed = wait_terminal(ann, doc_id)
    assert failed["status"] == "failed" and failed["version"] == version, failed


@pytest.mark.parametrize("lang", ["en", "zh-CN", "zh-TW"])
def test_two_failed_re_uploads_leave_the_ready_versions_passages_open(
    server: ThreadServer, world: World, lang: str
) -> None:
    name, text = VERSION_ONE[lang]
    with world.client("ann") as ann, world.client("bob") as bob:
        ann.headers["Accept-Language"] = bob.headers["Accept-Language"] = lang
        doc_id = _ready_document(world, ann, lang)
        cited = _hit(bob, QUESTIONS[lang], doc_id)  # cited while version 1 was current
        assert cited["version"] == 1

        _failed_version(ann, doc_id, NEW_NAMES[lang], UNREADABLE, 2)
        # Version 2 failed after its parse, as one failing while embedding does: its chunks
        # are kept (the parse stage writes them before the embed stage runs).
        tenant = world.tenant_a.id
        blobs = server.container.blobs
        write_chunks(blobs, tenant, doc_id, 2, [{"text": "x", "position": 0, "page": None}])
        _failed_version(ann, doc_id, "broken.pdf", CORRUPT_PDF, 3)
        # Replaced without ever being served, version 2 leaves nothing to find.
        assert kept_count(blobs, tenant, doc_id, 2) == 0

        for chunk_id in (cited["chunk_id"], _hit(bob, QUESTIONS[lang], doc_id)["chunk_id"]):
            r = bob.get(f"/v1/documents/{doc_id}/passages/{chunk_id}")
            assert r.status_code == 200, r.text
            passage = r.json()
            assert passage["version"] == 1 and passage["text"] == text
            assert passage["filename"] == name
            assert passage["file_url"] == f"/v1/documents/{doc_id}/file?version=1"
        assert _hit(bob, QUESTIONS[lang], doc_id)["version"] == 1


@pytest.mark.parametrize("lang", ["en", "zh-CN", "zh-TW"])
def test_a_version_replaced_before_its_name_was_kept_shows_its_real_name(
    server: ThreadServer, world: World, lang: str
) -> None:
    name, text = VERSION_ONE[lang]
    with world.client("ann") as ann, world.client("bob") as bob:
        ann.headers["Accept-Language"] = bob.headers["Accept-Language"] = lang
        doc_id = _ready_document(world, ann, lang)
        _failed_version(ann, doc_id, NEW_NAMES[lang], UNREADABLE, 2)
        # As replaced before about.json was written: the name only in the audit trail.
        tenant, blobs = world.tenant_a.id, server.container.blobs
        blobs.delete_prefix(about_key(tenant, doc_id, 1))
        hit = _hit(bob, QUESTIONS[lang], doc_id)

        passage = bob.get(f"/v1/documents/{doc_id}/passages/{hit['chunk_id']}").json()
        assert passage["version"] == 1
        assert (passage["filename"], passage["mime_type"]) == (name, "text/plain")
        original = bob.get(passage["file_url"])
        assert original.status_code == 200 and original.content == text.encode()
        assert quote(name, safe="") in original.headers["content-disposition"]
        assert blobs.exists(about_key(tenant, doc_id, 1))  # recovered once, kept from then on

        # Nothing recorded it (no about.json, no audit event naming that version): no name is
        # made up; the download is labelled with the title and the version, typed by content.
        blobs.delete_prefix(about_key(tenant, doc_id, 1))
        with transaction(server.container.sessions) as session:
            session.execute(delete(AuditEvent).where(AuditEvent.target_id == doc_id))
        passage = bob.get(f"/v1/documents/{doc_id}/passages/{hit['chunk_id']}").json()
        assert passage["version"] == 1 and passage["filename"] is None
        assert passage["mime_type"] == "text/plain"
        assert "version-1" not in repr(passage)
        original = bob.get(passage["file_url"])
        assert original.status_code == 200 and original.content == text.encode()
        title = passage["title"]
        assert quote(f"{title} (v1).txt", safe="") in original.headers["content-disposition"]
        assert blobs.exists(original_key(tenant, doc_id, 1))
        # Kept as unknown (the bytes are not read again), never as an invented name.
        kept = json.loads(blobs.get(about_key(tenant, doc_id, 1)))
        assert kept == {"filename": None, "mime_type": "text/plain"}
        again = bob.get(f"/v1/documents/{doc_id}/passages/{hit['chunk_id']}").json()
        assert (again["filename"], again["mime_type"]) == (None, "text/plain")


@pytest.mark.parametrize("lang", ["en", "zh-CN", "zh-TW"])
def test_a_later_versions_name_is_recovered_from_its_own_upload(
    server: ThreadServer, world: World, lang: str
) -> None:
    """Version 2 (a re-upload under a new name) is the last ready one when version 3 fails:
    its name is the one its ``document.version`` event recorded, not version 1's."""
    name, text = VERSION_ONE[lang]
    with world.client("ann") as ann, world.client("bob") as bob:
        ann.headers["Accept-Language"] = bob.headers["Accept-Language"] = lang
        doc_id = _ready_document(world, ann, lang)
        r = ann.post(
            f"/v1/documents/{doc_id}/versions",
            files={"file": (NEW_NAMES[lang], (text + " " + text).encode())},
        )
        assert r.status_code == 202, r.text
        assert wait_terminal(ann, doc_id)["status"] == "ready"
        _failed_version(ann, doc_id, name, UNREADABLE, 3)
        server.container.blobs.delete_prefix(about_key(world.tenant_a.id, doc_id, 2))

        hit = _hit(bob, QUESTIONS[lang], doc_id)
        passage = bob.get(f"/v1/documents/{doc_id}/passages/{hit['chunk_id']}").json()
        assert passage["version"] == 2
        assert (passage["filename"], passage["mime_type"]) == (NEW_NAMES[lang], "text/plain")
        original = bob.get(passage["file_url"])
        assert original.content == (text + " " + text).encode()
        assert quote(NEW_NAMES[lang], safe="") in original.headers["content-disposition"]
