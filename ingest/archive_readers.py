"""7z and RAR archives read through libarchive (Debian's ``libarchive13``, via ``libarchive-c``).

One library reads both (RAR 4 and RAR 5, 7z with LZMA/LZMA2/BZip2/Deflate, solid or not) and
streams each member block by block, so the limits are enforced while it inflates: a member is
never read past what the budget has left, whatever its header declares (RAR and 7z headers may
lie, and a solid 7z's sizes are only known as it unpacks). Names: 7z stores UTF-16 and RAR 5
UTF-8; an old RAR 4 written on Chinese Windows without the Unicode flag holds its names in the
ANSI code page, decoded like a zip's (:func:`ingest.text_decoding.decode_legacy_name`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from core.errors import UnprocessableDocument
from core.settings import LimitsSettings
from ingest.formats import MAX_ARCHIVE_MEMBERS
from ingest.text_decoding import decode_legacy_name

SEVEN_ZIP_MAGIC = b"7z\xbc\xaf\x27\x1c"
RAR_MAGIC = b"Rar!\x1a\x07"  # then \x00 (RAR 4) or \x01\x00 (RAR 5)
RAR5_MAGIC = b"Rar!\x1a\x07\x01\x00"
_BLOCK = 64 * 1024
_KIND_NAMES = {"7z": "7z", "rar": "RAR"}
# Said of a member that cannot be read without its password (zip, 7z, RAR alike).
ENCRYPTED_MEMBER = "the file is encrypted (password-protected) inside the archive"
MEMBER_TOO_BIG = (
    "the file needs more memory to unpack than the limit allows (possibly an archive bomb)"
)


class Budget:
    """What the whole tree (an archive and the archives inside it) may still unpack."""

    def __init__(self, limits: LimitsSettings, max_members: int | None = None) -> None:
        self.limits = limits
        # Read when the budget is made, so that the unpacking child gets the same number.
        self.max_members = MAX_ARCHIVE_MEMBERS if max_members is None else max_members
        self.members = 0
        self.unpacked = 0

    def add_members(self, count: int) -> None:
        self.members += count
        if self.members > self.max_members:
            raise UnprocessableDocument(
                f"the archive holds more than {self.max_members} files (limit)"
            )

    def bytes_left(self) -> int:
        return self.limits.max_unpacked_bytes - self.unpacked


@dataclass(frozen=True)
class Entry:
    """A member taken out (``data``) or one that could not be (``refused``: the reason)."""

    path: str
    data: bytes = b""
    refused: str = ""


def archive_kind(data: bytes) -> str | None:
    if data.startswith(SEVEN_ZIP_MAGIC):
        return "7z"
    if data.startswith(RAR_MAGIC):
        return "rar"
    return None


def read_entries(data: bytes, name: str, kind: str, budget: Budget) -> Iterator[Entry]:
    """The regular files of a 7z or RAR archive in stored order (folders, links and devices
    left out). Raises ``UnprocessableDocument`` for an archive that cannot be opened, one that
    is encrypted as a whole, and one that breaks the limits (members, bytes, ratio). Runs
    libarchive in this process: callers use :func:`ingest.archive_child.read_isolated`."""
    import libarchive
    from libarchive.exception import ArchiveError

    label = _KIND_NAMES[kind]
    unpacked_here = 0
    try:
        with libarchive.memory_reader(data, format_name=_format(data, kind)) as archive:
            for entry in archive:
                budget.add_members(1)
                if not entry.isreg:  # folders, symbolic and hard links, devices: never followed
                    continue
                path = _entry_path(entry.pathname)
                if not path:
                    continue
                if _encrypted(entry):
                    yield Entry(path, refused=ENCRYPTED_MEMBER)
                    continue
                declared = entry.size or 0
                _check(declared, unpacked_here, len(data), budget, name)
                content = bytearray()
                try:
                    for block in entry.get_blocks(_BLOCK):
                        content += block
                        _check(len(content), unpacked_here, len(data), budget, name)
                except ArchiveError as exc:
                    yield Entry(path, refused=_damaged(exc))
                    continue
                budget.unpacked += len(content)
                unpacked_here += len(content)
                yield Entry(path, data=bytes(content))
    except UnprocessableDocument:
        raise
    except ArchiveError as exc:
        message = str(exc).lower()
        if "passphrase" in message or "encrypt" in message or "password" in message:
            raise UnprocessableDocument(
                f"{name}: the {label} archive is encrypted (password-protected); remove the "
                "password"
            ) from exc
        if "allocate" in message or "memory" in message:  # the unpacking child's limit
            raise UnprocessableDocument(
                f"unpacking {name} needed more memory than its limit (possibly an archive bomb)"
            ) from exc
        raise UnprocessableDocument(
            f"{name} is not a readable {label} archive (damaged, incomplete or an unsupported "
            "variant)"
        ) from exc


_FORMATS = {"7z": "7zip", "rar": "rar"}


def _format(data: bytes, kind: str) -> str:
    # libarchive's "rar" reader knows RAR 1.5-4 only; RAR 5 (WinRAR's default since 5.0, 2013)
    # has a reader of its own.
    if kind == "rar" and data.startswith(RAR5_MAGIC):
        return "rar5"
    return _FORMATS[kind]


def _check(size: int, before: int, packed: int, budget: Budget, name: str) -> None:
    """Refuse as soon as a member (declared or read so far) breaks the byte or ratio limit."""
    limits = budget.limits
    if size > budget.bytes_left():
        raise UnprocessableDocument(
            f"{name} unpacks to more than {limits.max_unpacked_bytes:,} bytes (limit): refused "
            "as a possible zip bomb"
        )
    ratio = (before + size) / max(packed, 1)
    if ratio > limits.max_unpacked_ratio:
        raise UnprocessableDocument(
            f"{name} unpacks to more than {limits.max_unpacked_ratio:.0f} times its size "
            "(limit): refused as a possible zip bomb"
        )


def _entry_path(raw: str | bytes | None) -> str:
    # libarchive-c hands back bytes when the name is not valid in the locale's encoding: an
    # old RAR's names in the Windows ANSI code page (GBK, Big5).
    name = decode_legacy_name(raw) if isinstance(raw, bytes) else (raw or "")
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    return "/".join(parts)


def _encrypted(entry: object) -> bool:
    """libarchive knows (archive_entry_is_data_encrypted, libarchive >= 3.2); libarchive-c
    does not wrap it."""
    import ctypes

    from libarchive import ffi

    check = ffi.libarchive.archive_entry_is_data_encrypted
    check.argtypes, check.restype = [ctypes.c_void_p], ctypes.c_int
    return check(entry._entry_p) == 1  # type: ignore[attr-defined]


def _damaged(exc: Exception) -> str:
    message = str(exc).lower()
    if "passphrase" in message or "encrypt" in message or "password" in message:
        return ENCRYPTED_MEMBER
    if "allocate" in message or "memory" in message:  # the unpacking child's limit
        return MEMBER_TOO_BIG
    return "the file is damaged inside the archive (or uses an unsupported compression)"
