"""7z and RAR archives become their member files like a zip: Chinese and English names (a RAR
written by Chinese Windows in GBK or Big5 included), nesting across the three formats bounded,
bombs refused while they inflate, damaged and password-protected archives reported."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from core.errors import UnprocessableDocument
from core.settings import LimitsSettings
from ingest import archive_readers
from ingest.archives import EMPTY_MEMBER, is_archive, unpack
from tests.ingest.rar_files import seven_zip, stored_rar


def _zip(members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return out.getvalue()


def test_a_7z_archive_gives_its_members_in_chinese_and_english(tmp_path: Path) -> None:
    data = seven_zip(
        {
            "资料/2024/季度报告.txt": "销售额增长百分之十二".encode(),
            "manual/intro.md": b"# Introduction",
            "__MACOSX/资料/._季度报告.txt": b"x",
            "docs/empty.txt": b"",
        },
        tmp_path,
    )
    assert is_archive(data, "资料.7z")
    got = unpack(data, "资料.7z", LimitsSettings())
    assert {(m.path, m.filename, m.data) for m in got.members} == {
        ("资料/2024/季度报告.txt", "季度报告.txt", "销售额增长百分之十二".encode()),
        ("manual/intro.md", "intro.md", b"# Introduction"),
    }
    assert got.refused == [("docs/empty.txt", EMPTY_MEMBER)]  # reported, no longer dropped


@pytest.mark.parametrize(
    ("encoding", "name"),
    [("utf-8", "合同/采购合同.txt"), ("gbk", "合同/采购合同.txt"), ("big5", "合約/採購合約.txt")],
)
def test_rar_names_are_decoded_as_written(encoding: str, name: str) -> None:
    data = stored_rar({name: "合同金额八十万元".encode(), "readme.txt": b"English text"}, encoding)
    assert is_archive(data, "legacy.rar")
    got = unpack(data, "legacy.rar", LimitsSettings())
    assert [(m.path, m.data) for m in got.members] == [
        (name, "合同金额八十万元".encode()),
        ("readme.txt", b"English text"),
    ]


def test_archives_nest_across_formats_one_level_deep(tmp_path: Path) -> None:
    innermost = _zip({"deep.txt": b"deep"})
    rar_inside = stored_rar({"附件.txt": "附件内容".encode(), "deeper.zip": innermost})
    data = seven_zip({"inner.rar": rar_inside, "top.txt": b"top"}, tmp_path)
    got = unpack(data, "outer.7z", LimitsSettings())
    assert sorted(m.path for m in got.members) == ["inner.rar/附件.txt", "top.txt"]
    assert got.refused == [
        ("inner.rar/deeper.zip", "archives nested more than 2 deep are not unpacked")
    ]
    # And a 7z inside a zip.
    got = unpack(
        _zip({"年报.7z": seven_zip({"年报.txt": b"annual"}, tmp_path)}), "a.zip", LimitsSettings()
    )
    assert [m.path for m in got.members] == ["年报.7z/年报.txt"]


def test_bombs_are_refused_while_they_inflate(tmp_path: Path) -> None:
    zeros = b"\0" * (5 * 1024 * 1024)  # LZMA packs this about a thousand times
    with pytest.raises(UnprocessableDocument, match="zip bomb"):
        unpack(seven_zip({"zeros.bin": zeros}, tmp_path), "bomb.7z", LimitsSettings())
    # Stored, so under the ratio; two levels together past the size limit.
    limits = LimitsSettings(max_unpacked_bytes=3 * 1024 * 1024, max_unpacked_ratio=10_000)
    half = stored_rar({"a.txt": b"a" * (2 * 1024 * 1024)})
    with pytest.raises(UnprocessableDocument, match="zip bomb"):
        unpack(stored_rar({"one.rar": half, "two.rar": half}), "nested.rar", limits)


def test_too_many_members_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(archive_readers, "MAX_ARCHIVE_MEMBERS", 3)
    data = stored_rar({f"文件{i}.txt": b"x" for i in range(5)})
    with pytest.raises(UnprocessableDocument, match="more than 3 files"):
        unpack(data, "many.rar", LimitsSettings())


def test_damaged_and_password_protected_archives_are_reported(tmp_path: Path) -> None:
    whole = seven_zip({"报告.txt": "报告正文".encode() * 100}, tmp_path)
    with pytest.raises(UnprocessableDocument, match="not a readable 7z archive"):
        unpack(whole[: len(whole) // 2], "truncated.7z", LimitsSettings())
    # Named .rar, not a RAR at all: an archive by its name, refused with a reason.
    assert is_archive(b"not really", "fake.rar")
    with pytest.raises(UnprocessableDocument, match="not a readable RAR archive"):
        unpack(b"not really", "fake.rar", LimitsSettings())
    data = stored_rar(
        {"机密.txt": b"ciphertext", "open.txt": b"open"}, encrypted=frozenset({"机密.txt"})
    )
    got = unpack(data, "secret.rar", LimitsSettings())
    assert [m.path for m in got.members] == ["open.txt"]
    assert got.refused == [
        ("机密.txt", "the file is encrypted (password-protected) inside the archive")
    ]
