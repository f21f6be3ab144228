"""Tiny RAR 4 archives written byte by byte from RARLAB's published format notes (technote.txt):
creating RAR needs the non-free ``rar`` program, reading it does not. Members are *stored*
(method 0x30, no compression), which every RAR reader must read; that is all the tests need
to check names, limits and nesting. 7z archives are written by libarchive itself.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

_MARKER = b"Rar!\x1a\x07\x00"
_LONG_BLOCK = 0x8000  # ADD_SIZE follows the header: the block carries data
_PASSWORD = 0x0004


def _block(head_type: int, flags: int, body: bytes) -> bytes:
    size = 7 + len(body)
    header = struct.pack("<BHH", head_type, flags, size) + body
    return struct.pack("<H", zlib.crc32(header) & 0xFFFF) + header


def stored_rar(
    members: dict[str, bytes], name_encoding: str = "utf-8", encrypted: frozenset[str] = frozenset()
) -> bytes:
    """A RAR 4 archive of ``members`` (path → bytes), names as ``name_encoding`` bytes without
    the Unicode flag (what an old WinRAR on Chinese Windows wrote: GBK). The members named in
    ``encrypted`` carry the password flag (their bytes are left as they are)."""
    out = [_MARKER, _block(0x73, 0, b"\x00" * 6)]
    for path, data in members.items():
        name = path.replace("/", "\\").encode(name_encoding)
        body = struct.pack(
            "<IIBIIBBHI",
            len(data),  # PACK_SIZE (stored: the same)
            len(data),  # UNP_SIZE
            2,  # HOST_OS: Win32
            zlib.crc32(data),
            0x5A210000,  # FTIME (DOS date/time)
            29,  # UNP_VER 2.9
            0x30,  # METHOD: store
            len(name),
            0x20,  # ATTR: archive
        )
        flags = _LONG_BLOCK | (_PASSWORD if path in encrypted else 0)
        out.append(_block(0x74, flags, body + name) + data)
    out.append(_block(0x7B, 0x4000, b""))
    return b"".join(out)


def seven_zip(members: dict[str, bytes], folder: Path) -> bytes:
    """A 7z archive (LZMA, as 7-Zip writes by default) of ``members``, written by libarchive."""
    import libarchive

    path = folder / "archive.7z"
    with libarchive.file_writer(str(path), "7zip") as archive:
        for name, data in members.items():
            archive.add_file_from_memory(name, len(data), data)
    return path.read_bytes()
