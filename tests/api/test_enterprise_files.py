"""The files an enterprise file share holds, uploaded over real HTTP and searched: a zip of
documents written by Chinese Windows (GBK names), a legacy .doc, a WPS file, a scanned image,
and an e-mail with an attachment; each reaches "ready" with its own access list, and a member
the archive cannot give up is reported without losing the others."""

from __future__ import annotations

import io
from email.message import EmailMessage

import pytest
from PIL import Image, ImageDraw, ImageFont

from tests.api.world import World, upload, wait_terminal
from tests.files import legacy_named_zip
from tests.live import ThreadServer
from tests.support import make_settings, shared_data_dir

FONT = "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc"


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("files"), database={"url": pg_url})
    with ThreadServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def world(server: ThreadServer) -> World:
    return World(server)


def _scan(lines: list[str]) -> bytes:
    image = Image.new("RGB", (1400, 120 + 80 * len(lines)), "white")
    draw, font = ImageDraw.Draw(image), ImageFont.truetype(FONT, 40)
    for row, line in enumerate(lines):
        draw.text((60, 60 + row * 80), line, fill="black", font=font)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _mail() -> bytes:
    message = EmailMessage()
    message["Subject"] = "会议纪要 Minutes"
    message["From"] = "a@example.com"
    message["To"] = "b@example.com"
    message.set_content("纪要见附件。Minutes attached.")
    message.add_attachment(
        "下次会议定于周五下午三点。".encode(), maintype="text", subtype="plain", filename="纪要.txt"
    )
    return message.as_bytes()


def _search(client, query: str) -> list[dict]:  # type: ignore[no-untyped-def]
    r = client.post("/v1/search", json={"query": query, "limit": 5})
    assert r.status_code == 200, r.text
    return r.json()["results"]


def test_an_archive_becomes_its_documents(server: ThreadServer, world: World) -> None:
    legacy = (shared_data_dir() / "docs/unstructured-example-docs/simple.doc").read_bytes()
    archive = legacy_named_zip(
        {
            "制度/差旅报销制度.txt": "出差住宿标准为每晚五百元，须提前申请。".encode(),
            "制度/旧版手册.doc": legacy,
            "制度/setup.exe": b"MZ\x90\x00" + bytes(300),
        }
    )
    with world.client("ann") as ann, world.client("bob") as bob, world.client("carol") as carol:
        r = upload(ann, [("公司制度.zip", archive)], access={"groups": [world.eng.id]})
        assert r.status_code == 202, r.text
        body = r.json()
        titles = sorted(d["title"] for d in body["data"])
        assert titles == ["公司制度.zip/制度/差旅报销制度", "公司制度.zip/制度/旧版手册"]
        assert [(e["filename"], e["status_code"]) for e in body["errors"]] == [
            ("公司制度.zip/制度/setup.exe", 415)
        ]
        for doc in body["data"]:
            final = wait_terminal(ann, doc["id"])
            assert final["status"] == "ready", final["error"]
        names = {d["filename"] for d in body["data"]}
        assert names == {"差旅报销制度.txt", "旧版手册.doc"}
        # The archive's access list is each member's: bob (in eng) finds it, carol does not.
        hits = _search(bob, "出差住宿标准")
        assert hits and hits[0]["title"] == "公司制度.zip/制度/差旅报销制度"
        assert not [h for h in _search(carol, "出差住宿标准") if "制度" in h["title"]]
        assert any("favorite things" in h["text"] for h in _search(bob, "favorite things parrots"))


def test_legacy_wps_scan_and_mail_are_searchable(server: ThreadServer, world: World) -> None:
    legacy = (shared_data_dir() / "docs/unstructured-example-docs/simple.doc").read_bytes()
    files = [
        ("报告.wps", legacy),
        (
            "扫描件.png",
            _scan(["采购合同补充协议", "合同金额为人民币八十万元整", "付款方式为银行转账"]),
        ),
        ("纪要.eml", _mail()),
    ]
    with world.client("ann") as ann:
        r = upload(ann, files, access={"everyone": True})
        assert r.status_code == 202, r.text
        docs = r.json()["data"]
        assert [d["mime_type"] for d in docs] == [
            "application/wps-office.wps",
            "image/png",
            "message/rfc822",
        ]
        for doc in docs:
            final = wait_terminal(ann, doc["id"])
            assert final["status"] == "ready", final["error"]
        scanned = _search(ann, "合同金额是多少")
        assert any("人民币八十万" in "".join(h["text"].split()) for h in scanned), scanned
        meeting = _search(ann, "下次会议时间")
        assert any("周五下午三点" in h["text"] for h in meeting)


def test_a_broken_archive_is_refused_alone(server: ThreadServer, world: World) -> None:
    with world.client("ann") as ann:
        r = upload(ann, [("坏.zip", b"PK\x03\x04 truncated"), ("ok.txt", "正常文件".encode())])
        assert r.status_code == 202, r.text
        body = r.json()
        assert [d["filename"] for d in body["data"]] == ["ok.txt"]
        assert body["errors"][0]["filename"] == "坏.zip"
        assert "zip" in body["errors"][0]["detail"]
