"""7z, RAR and mbox uploads over real HTTP: each member (message) becomes a document with the
archive's access list, searchable by those it names and by no one else; a damaged RAR is
refused alone, with its reason."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.api.world import World, upload, wait_terminal
from tests.ingest.rar_files import seven_zip, stored_rar
from tests.live import ThreadServer
from tests.support import make_settings


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("archives"), database={"url": pg_url})
    with ThreadServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def world(server: ThreadServer) -> World:
    return World(server)


def _search(client, query: str) -> list[dict]:  # type: ignore[no-untyped-def]
    r = client.post("/v1/search", json={"query": query, "limit": 5})
    assert r.status_code == 200, r.text
    return r.json()["results"]


def _mbox() -> bytes:
    message = EmailMessage()
    message["Subject"] = "年会安排 Annual meeting"
    message["From"] = "hr@example.com"
    message["To"] = "all@example.com"
    message.set_content("年会定于一月十八日在杭州举行。The annual meeting is in Hangzhou.")
    return b"From hr@example.com Mon Jan  8 09:00:00 2024\n" + message.as_bytes() + b"\n"


def test_7z_rar_and_mbox_members_keep_the_archive_access_list(
    server: ThreadServer, world: World, tmp_path: Path
) -> None:
    rar = stored_rar({"制度/报销制度.txt": "出差住宿标准为每晚六百元。".encode("gbk")}, "gbk")
    archive = seven_zip(
        {"季度/销售报告.txt": "华东区销售额增长百分之十八。".encode(), "inner.rar": rar}, tmp_path
    )
    files = [("资料.7z", archive), ("邮件.mbox", _mbox()), ("坏.rar", b"Rar!\x1a\x07\x00broken")]
    with world.client("ann") as ann, world.client("bob") as bob, world.client("carol") as carol:
        r = upload(ann, files, access={"groups": [world.eng.id]})
        assert r.status_code == 202, r.text
        body = r.json()
        assert sorted(d["title"] for d in body["data"]) == [
            "资料.7z/inner.rar/制度/报销制度",
            "资料.7z/季度/销售报告",
            "邮件.mbox/0001 年会安排 Annual meeting",
        ]
        assert [e["filename"] for e in body["errors"]] == ["坏.rar"]
        assert "not a readable RAR archive" in body["errors"][0]["detail"]
        for doc in body["data"]:
            final = wait_terminal(ann, doc["id"])
            assert final["status"] == "ready", final["error"]
        # bob is in eng, carol is not.
        hits = _search(bob, "出差住宿标准")
        assert hits and hits[0]["title"] == "资料.7z/inner.rar/制度/报销制度"
        assert any("Hangzhou" in h["text"] for h in _search(bob, "annual meeting Hangzhou"))
        for query in ("出差住宿标准", "华东区销售额", "annual meeting Hangzhou"):
            assert not [h for h in _search(carol, query) if h["title"].startswith(("资料", "邮件"))]
