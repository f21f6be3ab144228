"""A file whose name claims a document format is read as that format, never unpacked: a plain
zip (or a 7z, a RAR) named ``.docx``, ``.xlsx``, ``.pptx``, ``.odt``, ``.epub``… is refused
as not being what its name says, at the top of an upload and inside an archive alike. Only a
name that is an archive's (or none) lets the bytes decide."""

from __future__ import annotations

import io
import zipfile

import pytest

from core.errors import UnprocessableDocument
from core.settings import LimitsSettings
from ingest.archives import is_archive, unpack
from ingest.formats import claimed_format, detect_type

OFFICE_NAMES = ["报告.docx", "表.xlsx", "演示.pptx", "文.odt", "表.ods", "书.epub", "a.DOCX"]


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


PLAIN_ZIP = _zip({"机密/工资.txt": "张三 20000".encode(), "readme.txt": b"hello"})
SEVEN_ZIP = b"7z\xbc\xaf\x27\x1c" + b"\x00" * 40
RAR = b"Rar!\x1a\x07\x01\x00" + b"\x00" * 40


@pytest.mark.parametrize("name", OFFICE_NAMES)
@pytest.mark.parametrize("data", [PLAIN_ZIP, SEVEN_ZIP, RAR], ids=["zip", "7z", "rar"])
def test_an_office_name_is_never_unpacked(name: str, data: bytes) -> None:
    assert claimed_format(name) is not None
    assert not is_archive(data, name)
    with pytest.raises(UnprocessableDocument, match=r"^not an? .+: the content is "):
        detect_type(data, name)


@pytest.mark.parametrize("name", ["资料.zip", "资料", "backup.7z"])
def test_an_archive_name_or_none_lets_the_bytes_decide(name: str) -> None:
    assert is_archive(PLAIN_ZIP, name)


def test_a_real_office_file_is_not_an_archive_under_any_name() -> None:
    docx = _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"<w:document/>"})
    for name in ("报告.docx", "报告", "报告.zip"):
        assert not is_archive(docx, name)


def test_inside_an_archive_an_office_named_zip_is_a_member_not_unpacked() -> None:
    outer = _zip({"资料/报告.docx": PLAIN_ZIP, "资料/内层.zip": PLAIN_ZIP})
    unpacked = unpack(outer, "资料.zip", LimitsSettings())
    paths = sorted(m.path for m in unpacked.members)
    # The .docx is handed on whole (and then refused as not a DOCX); the .zip is unpacked.
    assert paths == ["资料/内层.zip/readme.txt", "资料/内层.zip/机密/工资.txt", "资料/报告.docx"]
