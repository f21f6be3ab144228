"""RAR 5, compressed RAR and encrypted 7z archives: Chinese and English members come out of the
first two byte for byte; an encrypted 7z is refused (whole, when its names are encrypted too)
or its member reported, with "encrypted" in the reason, in English and in Chinese."""

from __future__ import annotations

import base64

import pytest

from api.reasons import localize
from api.web.i18n import CHINESE
from core.errors import UnprocessableDocument
from core.settings import LimitsSettings
from ingest.archives import is_archive, unpack
from tests.ingest.rar_files import stored_rar
from tests.ingest.rar_more_files import compressed_rar, stored_rar5

CONTRACT = "合同金额八十万元，乙方須於交貨後提供保固服務。The amount is 800k yuan.\n"

# Made with p7zip 16.02 (Debian's p7zip-full): `7z a -p'密码pw' -mhe=on e1.7z s.txt` (names
# and data encrypted) and `7z a -p'密码pw' e2.7z s.txt` (data only); s.txt holds
# "机密合同 secret contract".
HEADER_ENCRYPTED_7Z = base64.b64decode(
    "N3q8ryccAARc9aZBkAAAAAAAAAAuAAAAAAAAAJHykNUwCLg3ON//mXRxLECpAiNbyJkx40npRyM/eOJuNYzUUhw"
    "LBrXGnE7LzpsRzMduerFxTjyy3j4kbNmKgUT3g1wTng46BPYpKO/PZQIwv8eAIEw4vOdXeM14HGlHR8xPsiKnUH"
    "CpZO8i0I5tOXwu3pYTp4sD8nac/IEObyKl+0Jr95Q0KF3AJ7H2IOw5AOIPTlUXBiABCXAABwsBAAEkBvEHARJTD"
    "1QGSpZbZuOD7+hcaZ7/h0IMYgoBZcusXAAA"
)
DATA_ENCRYPTED_7Z = base64.b64decode(
    "N3q8ryccAAT0dufsIAAAAAAAAABiAAAAAAAAAENQfpNl//8V3QUJ8T0CX9Fr9ztUrdGOzMMyxNyAZTCe1b+2nQEEB"
    "gABCSAABwsBAAIkBvEHARJTDy+yv34UElKgKspOfKzRr40hIQEAAQAMIBwACAoBu0+/FAAABQEZAQARDQBzAC4Ad"
    "AB4AHQAAAAUCgEAZ9xDvOmB3QEVBgEAIICkgQAA"
)


def test_rar5_members_with_chinese_and_english_names() -> None:
    data = stored_rar5(
        {"资料/2024/季度报告.txt": CONTRACT.encode(), "合約/採購合約.txt": b"x", "a.md": b"# A"}
    )
    assert data.startswith(b"Rar!\x1a\x07\x01\x00") and is_archive(data, "资料.rar")
    got = unpack(data, "资料.rar", LimitsSettings())
    assert [(m.path, m.data) for m in got.members] == [
        ("资料/2024/季度报告.txt", CONTRACT.encode()),
        ("合約/採購合約.txt", b"x"),
        ("a.md", b"# A"),
    ]
    assert got.refused == []


def test_a_compressed_rar_inflates_byte_for_byte() -> None:
    text = (CONTRACT * 200).encode()  # 17 KB through RAR 2.9's LZ decoder
    data = compressed_rar({"合同/采购合同.txt": text, "readme.txt": b"English text"})
    assert b"\x33" in data[:80] and CONTRACT.encode() not in data  # not stored: encoded
    got = unpack(data, "compressed.rar", LimitsSettings())
    assert [(m.path, m.data) for m in got.members] == [
        ("合同/采购合同.txt", text),
        ("readme.txt", b"English text"),
    ]


def test_rar5_and_compressed_rar_obey_the_limits() -> None:
    limits = LimitsSettings(max_unpacked_bytes=100_000, max_unpacked_ratio=10_000)
    with pytest.raises(UnprocessableDocument, match="zip bomb"):
        unpack(stored_rar5({"big.txt": b"a" * 150_000}), "big.rar", limits)
    # A RAR 5 inside a compressed RAR 4: nested, both read.
    inner = stored_rar5({"附件.txt": "附件内容".encode()})
    got = unpack(compressed_rar({"inner.rar": inner}), "outer.rar", LimitsSettings())
    assert [(m.path, m.data) for m in got.members] == [("inner.rar/附件.txt", "附件内容".encode())]


def test_an_encrypted_7z_is_refused_saying_encrypted_in_both_languages() -> None:
    with pytest.raises(UnprocessableDocument) as whole:
        unpack(HEADER_ENCRYPTED_7Z, "机密.7z", LimitsSettings())
    reason = str(whole.value)
    assert "encrypted" in reason and reason.startswith("机密.7z: the 7z archive")
    assert localize(reason, CHINESE) == "机密.7z：该 7z 压缩包已加密（受密码保护），请去除密码"
    # Names readable, data encrypted: the member is reported, the upload goes on.
    got = unpack(DATA_ENCRYPTED_7Z, "部分加密.7z", LimitsSettings())
    assert got.members == []
    [(path, why)] = got.refused
    assert path == "s.txt" and "encrypted" in why
    assert localize(why, CHINESE) == "压缩包内的该文件已加密（受密码保护）"
    # The same words for a RAR member that carries the password flag.
    rar = stored_rar({"机密.txt": b"ciphertext"}, encrypted=frozenset({"机密.txt"}))
    assert unpack(rar, "secret.rar", LimitsSettings()).refused == [("机密.txt", why)]
