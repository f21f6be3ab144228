"""A passage that search returns opens, whichever version search is answering with.

While a new version is ingested, and after it failed, search and answers keep citing the
version before it (README: "the old version stays searchable until the new one is ready"), but
its passages answered 404 "passage not found": the portal's citations did not open for as long
as the new version took, and for good when it failed. Once a new version is ready, the old
version's passages are gone (404) and the new one's open. And a new version that is an archive is
refused saying so, not as a damaged file."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from tests.api.world import World, upload, wait_terminal
from tests.live import ThreadServer
from tests.support import make_settings

VERSION_ONE = {
    "en": ("canteen.txt", "The staff canteen serves lunch from half past eleven to half past one."),
    "zh-CN": ("食堂.txt", "员工食堂午餐供应时间为十一点半至一点半，每份套餐十五元。"),
    "zh-TW": ("餐廳.txt", "員工餐廳午餐供應時間為十一點半至一點半，每份套餐新台幣一百元。"),
}
QUESTIONS = {"en": "canteen lunch time", "zh-CN": "食堂午餐时间", "zh-TW": "餐廳午餐時間"}
GONE = {"en": "passage not found", "zh-CN": "找不到该段落", "zh-TW": "找不到該段落"}
UNREADABLE = b"   \n\n   \n"  # a new version with no text: it fails, the old one stays served


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory) -> Iterator[ThreadServer]:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("passage-versions"), database={"url": pg_url})
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


@pytest.mark.parametrize("lang", ["en", "zh-CN", "zh-TW"])
def test_a_served_versions_passage_opens_until_a_new_version_is_ready(
    world: World, lang: str
) -> None:
    name, text = VERSION_ONE[lang]
    with world.client("ann") as ann, world.client("bob") as bob:
        ann.headers["Accept-Language"] = bob.headers["Accept-Language"] = lang
        r = upload(ann, [(name, text.encode())], access={"everyone": True})
        assert r.status_code == 202, r.text
        doc_id = r.json()["data"][0]["id"]
        assert wait_terminal(ann, doc_id)["status"] == "ready"

        # The new version fails: search keeps answering with version 1, and its passage opens.
        r = ann.post(f"/v1/documents/{doc_id}/versions", files={"file": (name, UNREADABLE)})
        assert r.status_code == 202, r.text
        failed = wait_terminal(ann, doc_id)
        assert failed["status"] == "failed" and failed["version"] == 2
        hit = _hit(bob, QUESTIONS[lang], doc_id)
        assert hit["version"] == 1
        r = bob.get(f"/v1/documents/{doc_id}/passages/{hit['chunk_id']}")
        assert r.status_code == 200, r.text
        passage = r.json()
        assert passage["version"] == 1 and passage["position"] == hit["position"]
        assert passage["text"] == hit["text"]

        # A ready version 3 replaces it: version 1's passage is gone, version 3's opens.
        r = ann.post(
            f"/v1/documents/{doc_id}/versions",
            files={"file": (name, (text + " " + text).encode())},
        )
        assert r.status_code == 202, r.text
        assert wait_terminal(ann, doc_id)["status"] == "ready"
        gone = bob.get(f"/v1/documents/{doc_id}/passages/{hit['chunk_id']}")
        assert gone.status_code == 404, gone.text
        assert gone.json()["detail"] == GONE[lang]
        new_hit = _hit(bob, QUESTIONS[lang], doc_id)
        assert new_hit["version"] == 3
        r = bob.get(f"/v1/documents/{doc_id}/passages/{new_hit['chunk_id']}")
        assert r.status_code == 200 and r.json()["version"] == 3, r.text


ARCHIVE_REFUSED = {
    "en": "a new version must be one document, not an archive or a mailbox: upload the files"
    " inside it as documents of their own",
    "zh-CN": "新版本必须是单个文档，不能是压缩包或邮箱文件：请将其中的文件作为独立的文档上传",
    "zh-TW": "新版本必須是單個文件，不能是壓縮檔或信箱檔案：請將其中的檔案作為獨立的文件上傳",
}


@pytest.mark.parametrize("lang", ["en", "zh-CN", "zh-TW"])
def test_an_archive_is_refused_as_a_version_saying_why(world: World, lang: str) -> None:
    """A sound zip sent as a new version was refused as "not a readable zip archive (damaged
    or incomplete)": an upload unpacks archives, a version cannot, and now says so."""
    name, text = VERSION_ONE[lang]
    sound_zip = io.BytesIO()
    with zipfile.ZipFile(sound_zip, "w") as archive:
        archive.writestr(name, text.encode())
    with world.client("ann") as ann:
        ann.headers["Accept-Language"] = lang
        r = upload(ann, [(name, text.encode())])
        assert r.status_code == 202, r.text
        doc_id = r.json()["data"][0]["id"]
        assert wait_terminal(ann, doc_id)["status"] == "ready"
        for archive_name in ("新版本.zip", "new-version.zip"):
            files = {"file": (archive_name, sound_zip.getvalue())}
            r = ann.post(f"/v1/documents/{doc_id}/versions", files=files)
            assert r.status_code == 415, r.text
            assert r.json()["detail"] == ARCHIVE_REFUSED[lang]
        kept = ann.get(f"/v1/documents/{doc_id}").json()
        assert kept["version"] == 1 and kept["status"] == "ready" and kept["filename"] == name


NEW_NAMES = {"en": "canteen-2027.txt", "zh-CN": "食堂2027.txt", "zh-TW": "餐廳2027.txt"}
NOT_KEPT = {
    "en": "this version's original file is no longer kept",
    "zh-CN": "该版本的原始文件已不再保留",
    "zh-TW": "該版本的原始檔案已不再保留",
}


@pytest.mark.parametrize("lang", ["en", "zh-CN", "zh-TW"])
def test_an_earlier_versions_passage_links_its_own_file(
    server: ThreadServer, world: World, lang: str
) -> None:
    """The passage of version 1 (served after version 2 failed) linked the document's current
    file: "open the original" gave version 2's file under version 1's text. Its link is now
    version 1's own file (name and bytes), with the same access check, and says so once that
    file is no longer kept instead of linking another version's."""
    name, text = VERSION_ONE[lang]
    with world.client("ann") as ann, world.client("bob") as bob, world.client("carol") as carol:
        for client in (ann, bob, carol):
            client.headers["Accept-Language"] = lang
        r = upload(ann, [(name, text.encode())], access={"groups": [world.eng.id]})
        assert r.status_code == 202, r.text
        doc_id = r.json()["data"][0]["id"]
        assert wait_terminal(ann, doc_id)["status"] == "ready"
        r = ann.post(
            f"/v1/documents/{doc_id}/versions", files={"file": (NEW_NAMES[lang], UNREADABLE)}
        )
        assert r.status_code == 202, r.text
        assert wait_terminal(ann, doc_id)["status"] == "failed"

        hit = _hit(bob, QUESTIONS[lang], doc_id)
        passage = bob.get(f"/v1/documents/{doc_id}/passages/{hit['chunk_id']}").json()
        assert passage["version"] == 1 and passage["filename"] == name
        assert passage["file_url"] == f"/v1/documents/{doc_id}/file?version=1"
        original = bob.get(passage["file_url"])
        assert original.status_code == 200, original.text
        assert original.content == text.encode()
        assert quote(name, safe="") in original.headers["content-disposition"]
        # The current file is still version 2's, and carol (not in eng) reads neither.
        assert bob.get(f"/v1/documents/{doc_id}/file").content == UNREADABLE
        assert carol.get(passage["file_url"]).status_code == 404
        assert carol.get(f"/v1/documents/{doc_id}/file?version=2").status_code == 404

        # Its file gone (as once a newer version is ready), its link says so, never another's.
        tenant = world.tenant_a.id
        server.container.blobs.delete_prefix(f"{tenant}/{doc_id}/v1/original")
        passage = bob.get(f"/v1/documents/{doc_id}/passages/{hit['chunk_id']}").json()
        assert passage["version"] == 1 and passage["file_url"] is None
        gone = bob.get(f"/v1/documents/{doc_id}/file?version=1")
        assert gone.status_code == 404 and gone.json()["detail"] == NOT_KEPT[lang], gone.text
        later = bob.get(f"/v1/documents/{doc_id}/file?version=9")
        assert later.status_code == 404 and later.json()["detail"] == NOT_KEPT[lang]
