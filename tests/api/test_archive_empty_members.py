"""An empty file inside an uploaded archive is reported in the upload's ``errors`` (its path in
the archive and why, in the caller's language) while the archive's other files are ingested.
It was dropped without a word, although the README promises a clear answer for an empty file
(one uploaded on its own is refused saying so)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator

import pytest

from tests.api.world import World, upload, wait_terminal
from tests.live import ThreadServer
from tests.support import make_settings

CASES = {
    "en": ("handbook.zip", "notes/empty.txt", "policy.txt", "Leave requests go to the team lead."),
    "zh-CN": ("员工手册.zip", "笔记/空白.txt", "制度.txt", "请假申请交给组长审批。"),
    "zh-TW": ("員工手冊.zip", "筆記/空白.txt", "制度.txt", "請假申請交給組長審批。"),
}
WHY = {
    "en": "the file is empty (0 bytes): nothing to index",
    "zh-CN": "该文件是空的（0 字节），没有可索引的内容",
    "zh-TW": "該檔案是空的（0 位元組），沒有可索引的內容",
}


@pytest.fixture(scope="module")
def world(pg_url, tmp_path_factory) -> Iterator[World]:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("archive-empty"), database={"url": pg_url})
    with ThreadServer(settings) as server:
        yield World(server)


@pytest.mark.parametrize("lang", ["en", "zh-CN", "zh-TW"])
def test_an_empty_member_is_reported_and_the_others_ingested(world: World, lang: str) -> None:
    archive_name, empty_path, name, text = CASES[lang]
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr(empty_path, b"")
        archive.writestr(name, text.encode())
    with world.client("ann") as ann:
        ann.headers["Accept-Language"] = lang
        r = upload(ann, [(archive_name, data.getvalue())])
        assert r.status_code == 202, r.text
        body = r.json()
        assert body["errors"] == [
            {"filename": f"{archive_name}/{empty_path}", "status_code": 422, "detail": WHY[lang]}
        ]
        (doc,) = body["data"]
        assert doc["title"] == f"{archive_name}/{name.removesuffix('.txt')}"
        assert wait_terminal(ann, doc["id"])["status"] == "ready"
