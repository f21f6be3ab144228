"""An archive (zip, 7z, RAR) → its member files, each to become a document of its own.

The limits that guard Office files guard archives too, over the whole tree: the number of
members, the bytes they unpack to, the ratio of unpacked to packed size, and how deep archives
may nest (a zip in a zip is unpacked; one level deeper is refused). Member names are decoded
as the program that wrote them meant: the UTF-8 flag when set, else UTF-8 if valid, else
GBK/GB18030 or Big5 (Chinese Windows' own zip writes its ANSI code page) scored as in
:mod:`ingest.text_decoding`. Folders, system litter (``__MACOSX/``, ``.DS_Store``,
``Thumbs.db``) are skipped; an encrypted member is reported, not guessed at, and so is an empty
one (README: an empty file gets a clear reason, inside an archive too).
7z and RAR archives are read by :mod:`ingest.archive_readers` under the same limits, in a
child process with an address-space limit (:mod:`ingest.archive_child`), and any of the three
may hold any other.
"""

from __future__ import annotations

import contextlib
import io
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from core.errors import UnprocessableDocument
from core.settings import LimitsSettings
from ingest.archive_child import read_isolated
from ingest.archive_readers import ENCRYPTED_MEMBER, Budget, archive_kind
from ingest.formats import claimed_format, safe_filename
from ingest.mailboxes import is_mbox, split_mbox
from ingest.text_decoding import decode_legacy_name

ZIP_MAGIC = b"PK\x03\x04"
MAX_NESTING = 2  # the archive uploaded, and archives inside it
EMPTY_MEMBER = "the file is empty (0 bytes): nothing to index"
_UTF8_FLAG = 0x800
_ENCRYPTED_FLAG = 0x1
_LITTER = frozenset({".ds_store", "thumbs.db", "desktop.ini"})


@dataclass(frozen=True)
class Member:
    """One file of the archive: its path inside (``资料/2024/报告.docx``; nested archives
    joined with ``/``) and its bytes."""

    path: str
    data: bytes

    @property
    def filename(self) -> str:
        return safe_filename(PurePosixPath(self.path).name)


@dataclass
class Unpacked:
    members: list[Member] = field(default_factory=list)
    # (path, reason) for members that could not be taken out.
    refused: list[tuple[str, str]] = field(default_factory=list)


def is_archive(data: bytes, filename: str) -> bool:
    """A 7z or RAR archive (by content or name), or a zip that is an archive of files, not an
    Office/OpenDocument/EPUB file (also zips). A file whose name claims a document format
    (``.docx``, ``.xlsx``, ``.epub``, ``.pdf``…) is never one, whatever its bytes: it is read
    as that format, or refused as not being it (``ingest.formats.detect_type``). Unpacked, a
    zip named ``报告.docx`` became a handful of documents its uploader never meant to share."""
    if claimed_format(filename) is not None:
        return False
    if archive_kind(data) or PurePosixPath(filename.lower()).suffix in (".7z", ".rar"):
        return True
    if is_mbox(data, filename):  # a mailbox: one document per message
        return True
    if not data.startswith(ZIP_MAGIC):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist()[:50])
    except Exception:
        return PurePosixPath(filename.lower()).suffix == ".zip"
    office = {"[Content_Types].xml", "mimetype", "META-INF/manifest.xml"}
    return not (names & office)


def unpack(data: bytes, name: str, limits: LimitsSettings) -> Unpacked:
    result = Unpacked()
    _unpack(data, name, "", 1, Budget(limits), result)
    return result


def _unpack(data: bytes, name: str, prefix: str, depth: int, budget: Budget, out: Unpacked) -> None:
    kind = archive_kind(data)
    if kind is None and not data.startswith(ZIP_MAGIC):
        suffix = PurePosixPath(name.lower()).suffix
        kind = {".7z": "7z", ".rar": "rar"}.get(suffix)
    mailbox = kind is None and not data.startswith(ZIP_MAGIC) and is_mbox(data, name)
    if kind is not None or mailbox:
        entries = read_isolated(data, name, kind, budget) if kind else split_mbox(data, budget)
        for entry in entries:
            path = prefix + entry.path
            if entry.refused:
                out.refused.append((path, entry.refused))
            elif not _litter(path):
                _take(entry.data, path, depth, budget, out)
        return
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except NotImplementedError as exc:
        raise UnprocessableDocument(
            f"{name}: the archive uses a zip feature that cannot be read"
        ) from exc
    except Exception as exc:
        raise UnprocessableDocument(
            f"{name} is not a readable zip archive (damaged or incomplete)"
        ) from exc
    with archive:
        infos = archive.infolist()
        budget.add_members(len(infos))
        declared = sum(info.file_size for info in infos)
        if declared > budget.limits.max_unpacked_bytes - budget.unpacked:
            raise UnprocessableDocument(
                f"{name} unpacks to {declared + budget.unpacked:,} bytes (limit "
                f"{budget.limits.max_unpacked_bytes:,}): refused as a possible zip bomb"
            )
        if data and declared / len(data) > budget.limits.max_unpacked_ratio:
            raise UnprocessableDocument(
                f"{name} unpacks to {declared / len(data):.0f} times its size (limit "
                f"{budget.limits.max_unpacked_ratio:.0f}): refused as a possible zip bomb"
            )
        budget.unpacked += declared
        for info in infos:
            path = prefix + _member_name(info)
            if _skipped(info, path):
                continue
            if info.flag_bits & _ENCRYPTED_FLAG:
                out.refused.append((path, ENCRYPTED_MEMBER))
                continue
            try:
                # zipfile never inflates past the declared size (checked above).
                content = archive.read(info)
            except Exception:
                out.refused.append((path, "the file is damaged inside the archive"))
                continue
            _take(content, path, depth, budget, out)


def _take(content: bytes, path: str, depth: int, budget: Budget, out: Unpacked) -> None:
    """A member's bytes: a document, or an archive to unpack in its turn (within the depth)."""
    if not content:  # reported, as an empty file uploaded on its own is refused
        out.refused.append((path, EMPTY_MEMBER))
        return
    nested = claimed_format(path) is None and (
        archive_kind(content) is not None
        or (content.startswith(ZIP_MAGIC) and is_archive(content, path))
        or is_mbox(content, path)
    )
    if not nested:
        out.members.append(Member(path, content))
    elif depth >= MAX_NESTING:
        out.refused.append((path, f"archives nested more than {MAX_NESTING} deep are not unpacked"))
    else:
        _unpack(content, path, path + "/", depth + 1, budget, out)


def _member_name(info: zipfile.ZipInfo) -> str:
    name = info.filename
    if not info.flag_bits & _UTF8_FLAG:
        # zipfile read the raw bytes as cp437: take them back and decode them properly.
        with contextlib.suppress(UnicodeEncodeError):
            name = decode_legacy_name(name.encode("cp437"))
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".", "..")]
    return "/".join(parts)


def _skipped(info: zipfile.ZipInfo, path: str) -> bool:
    if info.is_dir() or not path:
        return True
    mode = info.external_attr >> 16
    if mode and stat.S_ISLNK(mode):  # a symbolic link stored as a member: never followed
        return True
    return _litter(path)


def _litter(path: str) -> bool:
    parts = path.split("/")
    return "__MACOSX" in parts or parts[-1].lower() in _LITTER or parts[-1].startswith("._")
