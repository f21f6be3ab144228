"""Zip archives become their member files: names written by Chinese Windows (GBK, no UTF-8
flag) decoded, nesting bounded, zip bombs refused over the whole tree, litter skipped, and an
encrypted member reported rather than guessed at."""

from __future__ import annotations

import io
import zipfile

import pytest

from core.errors import UnprocessableDocument
from core.settings import LimitsSettings
from ingest.archives import EMPTY_MEMBER, is_archive, unpack
from tests.files import legacy_named_zip


def _zip(members: dict[str, bytes], *, legacy: str | None = None) -> bytes:
    if legacy:  # what Chinese Windows writes: names in its ANSI code page, no UTF-8 flag
        return legacy_named_zip(members, legacy)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_members_in_chinese_and_english_with_their_folders() -> None:
    data = _zip({"资料/2024/季度报告.txt": "销售额增长".encode(), "manual/intro.md": b"# Intro"})
    got = unpack(data, "资料.zip", LimitsSettings())
    assert {(m.path, m.filename) for m in got.members} == {
        ("资料/2024/季度报告.txt", "季度报告.txt"),
        ("manual/intro.md", "intro.md"),
    }
    assert got.refused == []


@pytest.mark.parametrize(
    ("encoding", "name"), [("gbk", "合同/采购合同.txt"), ("big5", "合約/採購合約.txt")]
)
def test_names_from_chinese_windows_are_decoded(encoding: str, name: str) -> None:
    got = unpack(_zip({name: b"text"}, legacy=encoding), "legacy.zip", LimitsSettings())
    assert [m.path for m in got.members] == [name]


def test_nested_archives_unpack_one_level_and_no_deeper() -> None:
    inner = _zip({"附件.txt": "附件内容".encode()})
    innermost = _zip({"deep.txt": b"deep"})
    middle = _zip({"deeper.zip": innermost})
    data = _zip({"inner.zip": inner, "middle.zip": middle, "top.txt": b"top"})
    got = unpack(data, "outer.zip", LimitsSettings())
    assert sorted(m.path for m in got.members) == ["inner.zip/附件.txt", "top.txt"]
    assert got.refused == [
        ("middle.zip/deeper.zip", "archives nested more than 2 deep are not unpacked")
    ]


def test_litter_folders_and_links_are_skipped_and_empty_files_reported() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("__MACOSX/._report.txt", b"x")
        archive.writestr("docs/.DS_Store", b"x")
        archive.writestr("docs/Thumbs.db", b"x")
        archive.writestr("docs/empty.txt", b"")
        archive.writestr("docs/", b"")
        link = zipfile.ZipInfo("docs/passwd")
        link.external_attr = 0o120777 << 16
        archive.writestr(link, "/etc/passwd")
        archive.writestr("../../escape/报告.txt", "正文".encode())
        archive.writestr("docs/real.txt", b"real")
    got = unpack(out.getvalue(), "mixed.zip", LimitsSettings())
    # Path parts that climb out are dropped: the name stays inside the archive.
    assert sorted(m.path for m in got.members) == ["docs/real.txt", "escape/报告.txt"]
    # An empty file is not litter: it was dropped without a word, now the upload says why.
    assert got.refused == [("docs/empty.txt", EMPTY_MEMBER)]


def test_an_encrypted_member_is_reported() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("机密.txt", b"ciphertext")
        archive.writestr("open.txt", b"open")
    # zipfile cannot encrypt: set the first member's "encrypted" bit in its local and central
    # headers, as an encrypting zip tool would.
    data = bytearray(out.getvalue())
    data[6] |= 0x1
    central = data.index(b"PK\x01\x02")
    data[central + 8] |= 0x1
    got = unpack(bytes(data), "a.zip", LimitsSettings())
    assert [m.path for m in got.members] == ["open.txt"]
    assert got.refused == [
        ("机密.txt", "the file is encrypted (password-protected) inside the archive")
    ]


def test_bombs_are_refused_across_the_whole_tree() -> None:
    zeros = b"\0" * (5 * 1024 * 1024)
    with pytest.raises(UnprocessableDocument, match="zip bomb"):
        unpack(_zip({"zeros.bin": zeros}), "bomb.zip", LimitsSettings())
    # Each level is under the ratio, the two together past the size limit.
    limits = LimitsSettings(max_unpacked_bytes=3 * 1024 * 1024, max_unpacked_ratio=10_000)
    half = _zip({"a.txt": b"a" * (2 * 1024 * 1024)})
    with pytest.raises(UnprocessableDocument, match="zip bomb"):
        unpack(_zip({"one.zip": half, "two.zip": half}), "nested.zip", limits)
    with pytest.raises(UnprocessableDocument, match="not a readable zip"):
        unpack(b"PK\x03\x04 broken", "broken.zip", LimitsSettings())


def test_office_files_are_not_archives() -> None:
    assert not is_archive(
        _zip({"[Content_Types].xml": b"<Types/>", "word/document.xml": b"x"}), "a.docx"
    )
    assert not is_archive(_zip({"mimetype": b"application/vnd.oasis.opendocument.text"}), "a.odt")
    assert is_archive(_zip({"a.txt": b"a"}), "a.zip")
