"""Over real HTTP: a zip uploaded under an Office name (``.docx``, ``.xlsx``…) is refused as
not being that format, in the caller's language, and nothing of it is stored; it was unpacked
as an archive, its members becoming documents nobody meant to upload."""

from __future__ import annotations

import io
import zipfile

import httpx
import pytest

from tests.api.world import World, upload
from tests.live import ThreadServer
from tests.support import make_settings

ZH = {"Accept-Language": "zh-CN"}


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


PLAIN_ZIP = _zip({"工资.txt": "张三 20000".encode(), "readme.txt": b"hello"})


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("office-zips"), database={"url": pg_url})
    with ThreadServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def ann(server: ThreadServer) -> httpx.Client:
    with World(server).client("ann") as client:
        yield client


@pytest.mark.parametrize(
    ("name", "english", "chinese"),
    [
        ("季度报告.docx", "not a DOCX file: the content is a zip archive", "不是DOCX 文件"),
        ("预算.xlsx", "not an XLSX file: the content is a zip archive", "不是XLSX 文件"),
        ("电子书.epub", "not an EPUB book: the content is a zip archive", "EPUB"),
    ],
)
def test_a_zip_under_an_office_name_is_refused_not_unpacked(
    ann: httpx.Client, name: str, english: str, chinese: str
) -> None:
    before = ann.get("/v1/documents", params={"limit": 500}).json()["count"]
    r = upload(ann, [(name, PLAIN_ZIP)])
    assert r.status_code == 400, r.text
    (error,) = r.json()["errors"]
    assert (error["filename"], error["detail"]) == (name, english)
    r = ann.post("/v1/documents", files=[("files", (name, PLAIN_ZIP))], headers=ZH)
    assert r.status_code == 400
    assert chinese in r.json()["detail"] and "压缩包" in r.json()["detail"]
    assert ann.get("/v1/documents", params={"limit": 500}).json()["count"] == before


def test_inside_an_archive_too(ann: httpx.Client) -> None:
    outer = _zip({"资料/报告.docx": PLAIN_ZIP, "资料/说明.txt": "正文".encode()})
    r = upload(ann, [("资料.zip", outer)])
    assert r.status_code == 202, r.text
    assert [d["filename"] for d in r.json()["data"]] == ["说明.txt"]
    (error,) = r.json()["errors"]
    assert error["filename"] == "资料.zip/资料/报告.docx"
    assert error["detail"] == "not a DOCX file: the content is a zip archive"
