"""More RAR archives written byte by byte (``rar`` itself is non-free), after RARLAB's published
format notes (technote.txt for RAR 4, the "RAR 5.0 archive format" page) and unrar's reader:

- RAR 5, members stored, names in UTF-8;
- RAR 4 *compressed* (method 0x33, unpack version 2.9): one LZ block whose Huffman tables give
  every byte but 0xFF an 8-bit code, so the stream is the member's bytes behind a table header,
  closed by the end-of-file symbol. Real compression, read by libarchive's real decoder; only
  the encoder is this simple (no matches), which is all the tests need.
"""

from __future__ import annotations

import struct
import zlib

from tests.ingest.rar_files import _MARKER, _block

RAR5_MARKER = b"Rar!\x1a\x07\x01\x00"


def _vint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _rar5_block(head_type: int, fields: bytes, data: bytes = b"") -> bytes:
    flags = 0x0002 if data else 0  # HFL_DATA: a data area follows the header
    body = _vint(head_type) + _vint(flags) + (_vint(len(data)) if data else b"") + fields
    header = _vint(len(body)) + body
    return struct.pack("<I", zlib.crc32(header)) + header + data


def stored_rar5(members: dict[str, bytes]) -> bytes:
    """A RAR 5 archive of ``members`` (path → bytes), stored, UTF-8 names."""
    out = [RAR5_MARKER, _rar5_block(1, _vint(0))]  # main header, no archive flags
    for path, data in members.items():
        name = path.encode("utf-8")
        fields = (
            _vint(0x0004)  # file flags: data CRC32 present
            + _vint(len(data))  # unpacked size
            + _vint(0x20)  # attributes: archive
            + struct.pack("<I", zlib.crc32(data))
            + _vint(0)  # compression: version 0, method 0 (store), smallest dictionary
            + _vint(0)  # host OS: Windows
            + _vint(len(name))
            + name
        )
        out.append(_rar5_block(2, fields, data))
    out.append(_rar5_block(5, _vint(0)))  # end of archive
    return b"".join(out)


class _Bits:
    def __init__(self) -> None:
        self.value, self.count = 0, 0

    def put(self, value: int, width: int) -> None:
        self.value = (self.value << width) | value
        self.count += width

    def bytes(self) -> bytes:
        pad = (-self.count) % 8
        return (self.value << pad).to_bytes((self.count + pad) // 8, "big")


def _canonical(lengths: list[int]) -> dict[int, tuple[int, int]]:
    """symbol → (code, length), as RAR (and libarchive's create_code) assigns them."""
    codes, code = {}, 0
    for length in range(1, 16):
        for symbol, own in enumerate(lengths):
            if own == length:
                codes[symbol] = (code, length)
                code += 1
        code <<= 1
    return codes


# The precode ("bit length" code, 20 symbols): 0-11 in 4 bits, 12-19 in 5 (a complete code).
_PRE_LENGTHS = [4] * 12 + [5] * 8
# Main code: bytes 0x00-0xFE in 8 bits, 256 (end of block) and 257 in 9; the distance, low
# distance and length codes get two 1-bit symbols each (complete codes, never used).
_MAIN = [8] * 255 + [0, 9, 9] + [0] * (299 - 258)
_TABLES = _MAIN + [1, 1] + [0] * 58 + [1, 1] + [0] * 15 + [1, 1] + [0] * 26


def _lz_stream(data: bytes) -> bytes:
    if b"\xff" in data:
        raise ValueError("this encoder has no code for byte 0xFF")
    bits = _Bits()
    bits.put(0, 1)  # an LZ block, not PPMd
    bits.put(0, 1)  # new tables (previous lengths zero)
    for length in _PRE_LENGTHS:
        bits.put(length, 4)  # none is 15: no zero-run escape needed
    pre = _canonical(_PRE_LENGTHS)
    i = 0
    while i < len(_TABLES):
        run = 0
        while i + run < len(_TABLES) and _TABLES[i + run] == 0:
            run += 1
        if run >= 11:  # symbol 19: 11 + 7 bits zeros
            take = min(run, 11 + 127)
            bits.put(*pre[19])
            bits.put(take - 11, 7)
            i += take
        elif run >= 3:  # symbol 18: 3 + 3 bits zeros
            take = min(run, 10)
            bits.put(*pre[18])
            bits.put(take - 3, 3)
            i += take
        else:
            bits.put(*pre[_TABLES[i]])  # below 16: the length itself (old table zero)
            i += 1
    main = _canonical(_MAIN)
    for byte in data:
        bits.put(*main[byte])
    bits.put(*main[256])  # end of block...
    bits.put(0, 1)  # ...and of the file
    bits.put(0, 1)  # no new table follows
    return bits.bytes() + b"\x00" * 8  # room for a reader's look-ahead


def compressed_rar(members: dict[str, bytes]) -> bytes:
    """A RAR 4 archive of ``members`` compressed with RAR 2.9's LZ method (UTF-8 names)."""
    out = [_MARKER, _block(0x73, 0, b"\x00" * 6)]
    for path, data in members.items():
        name = path.replace("/", "\\").encode("utf-8")
        packed = _lz_stream(data)
        body = struct.pack(
            "<IIBIIBBHI",
            len(packed),  # PACK_SIZE
            len(data),  # UNP_SIZE
            2,  # HOST_OS: Win32
            zlib.crc32(data),
            0x5A210000,  # FTIME
            29,  # UNP_VER 2.9
            0x33,  # METHOD: normal compression
            len(name),
            0x20,
        )
        # LONG_BLOCK; dictionary bits 5-7 zero: 64 KiB.
        out.append(_block(0x74, 0x8000, body + name) + packed)
    out.append(_block(0x7B, 0x4000, b""))
    return b"".join(out)
