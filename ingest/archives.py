"""A zip archive → its member files, each to become a document of its own.

The limits that guard Office files guard archives too, over the whole tree: the number of
members, the bytes they unpack to, the ratio of unpacked to packed size, and how deep archives
may nest (a zip in a zip is unpacked; one level deeper is refused). Member names are decoded
as the program that wrote them meant: the UTF-8 flag when set, else UTF-8 if valid, else
GBK/GB18030 or Big5 (Chinese Windows' own zip writes its ANSI code page) scored as in
:mod:`ingest.text_decoding`. Folders, system litter (``__MACOSX/``, ``.DS_Store``,
``Thumbs.db``) and empty files are skipped; an encrypted member is reported, not guessed at.
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
from ingest.formats import MAX_ARCHIVE_MEMBERS, safe_filename
from ingest.text_decoding import decode_legacy_name

ZIP_MAGIC = b"PK\x03\x04"
MAX_NESTING = 2  # the archive uploaded, and archives inside it
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
    """A zip that is an archive of files, not an Office/OpenDocument/EPUB file (also zips)."""
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
    budget = _Budget(limits)
    _unpack(data, name, "", 1, budget, result)
    return result


class _Budget:
    def __init__(self, limits: LimitsSettings) -> None:
        self.limits = limits
        self.members = 0
        self.unpacked = 0


def _unpack(
    data: bytes, name: str, prefix: str, depth: int, budget: _Budget, out: Unpacked
) -> None:
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
        budget.members += len(infos)
        if budget.members > MAX_ARCHIVE_MEMBERS:
            raise UnprocessableDocument(
                f"the archive holds more than {MAX_ARCHIVE_MEMBERS} files (limit)"
            )
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
                out.refused.append((path, "the file is password-protected inside the archive"))
                continue
            try:
                # zipfile never inflates past the declared size (checked above).
                content = archive.read(info)
            except Exception:
                out.refused.append((path, "the file is damaged inside the archive"))
                continue
            if not content:
                continue
            if content.startswith(ZIP_MAGIC) and is_archive(content, path):
                if depth >= MAX_NESTING:
                    out.refused.append(
                        (path, f"archives nested more than {MAX_NESTING} deep are not unpacked")
                    )
                    continue
                _unpack(content, path, path + "/", depth + 1, budget, out)
                continue
            out.members.append(Member(path, content))


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
    parts = path.split("/")
    return parts[0] == "__MACOSX" or parts[-1].lower() in _LITTER or parts[-1].startswith("._")
