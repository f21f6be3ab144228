"""Where original files are kept. A local folder by default; an S3-compatible store
(``core.blobs_s3``) implements the same protocol. Keys are chosen by us
(``tenant/doc/version``), never by the uploader, so a hostile file name cannot reach the file
system."""

from __future__ import annotations

import errno
import itertools
import os
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from core.errors import NotFound

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


def check_key(key: str) -> str:
    """The key, if it is one of ours; ValueError otherwise (no ``..``, no leading slash)."""
    if not _KEY.match(key) or ".." in key.split("/"):
        raise ValueError(f"invalid blob key {key!r}")
    return key


@dataclass(frozen=True)
class BlobInfo:
    key: str
    size: int
    modified: datetime  # UTC


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes:
        """The bytes; NotFound when there is no such object."""

    def delete_prefix(self, prefix: str) -> None: ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        """Every object under ``prefix`` (a whole key component: ``t1`` is not ``t10``),
        for maintenance (orphan sweeps, backups), in no promised order."""


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._root = str(root)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _file(self, key: str) -> str:
        """``_path`` as a string, for the hot paths (a ``Path`` costs more than the read)."""
        return os.path.join(self._root, check_key(key))

    def put(self, key: str, data: bytes) -> None:
        path = self._file(key)
        folder = os.path.dirname(path)
        # Write then rename: a reader never sees half a file, even after a crash. The
        # temporary name is this process's own (``_temporary_name``), and the folder is made
        # only when the open says it is missing: on short files the folder checks and
        # ``mkstemp``'s random names were a good part of an upload's cost (docs/benchmarks.md).
        tmp = os.path.join(folder, _temporary_name())
        try:
            fd = os.open(tmp, _TEMPORARY_FLAGS, 0o600)
        except FileNotFoundError:
            os.makedirs(folder, exist_ok=True)
            fd = os.open(tmp, _TEMPORARY_FLAGS, 0o600)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            with open(self._file(key), "rb") as fh:
                return fh.read()
        except FileNotFoundError as exc:
            raise NotFound(f"blob {key} is missing") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete_prefix(self, prefix: str) -> None:
        """Idempotent beside another deleter or a late writer of the same prefix (an API
        delete and a parse run that lost its claim, ``workers.runs``, both remove a
        document's files): what vanished meanwhile is skipped, and a folder written into
        meanwhile is left to its writer, who removes it in turn (or the maintenance sweep).
        A walk that raised there turned a committed delete into a 500."""
        base = self._path(prefix.rstrip("/"))
        if base.is_file():
            base.unlink(missing_ok=True)
            return
        if not base.is_dir():
            return
        # Bottom-up; os.walk skips a folder that vanishes before it is listed.
        for folder, subfolders, files in os.walk(base, topdown=False):
            for name in files:
                Path(folder, name).unlink(missing_ok=True)
            for name in subfolders:
                _remove_folder(Path(folder, name))
        _remove_folder(base)

    def list(self, prefix: str = "") -> Iterator[BlobInfo]:
        base = self._path(prefix.rstrip("/")) if prefix else self.root
        if base.is_file():
            paths: Iterator[Path] = iter([base])
        else:
            paths = base.rglob("*")
        for path in paths:
            if path.name.startswith(".tmp-") or not path.is_file():
                continue  # a write in progress (put's temporary file), or a folder
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # deleted while listed
            yield BlobInfo(
                path.relative_to(self.root).as_posix(),
                stat.st_size,
                datetime.fromtimestamp(stat.st_mtime, UTC),
            )


# A put's temporary file: created, never opened if it exists (O_EXCL), private as mkstemp's.
_TEMPORARY_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
_temporary_count = itertools.count()
_temporary_prefix = ""


def _new_temporary_prefix() -> None:
    """``.tmp-`` (what listings skip), the process id and a random tag: two machines sharing
    the folder with the same process id never pick one name. Made again in a forked child."""
    global _temporary_prefix
    _temporary_prefix = f".tmp-{os.getpid()}-{secrets.token_hex(4)}-"


_new_temporary_prefix()
os.register_at_fork(after_in_child=_new_temporary_prefix)


def _temporary_name() -> str:
    """A name no other writer uses: this process's prefix and a counter."""
    return f"{_temporary_prefix}{next(_temporary_count)}"


def original_key(tenant_id: str, doc_id: str, version: int) -> str:
    """Where a document version's uploaded bytes are kept."""
    return f"{tenant_id}/{doc_id}/v{version}/original"


def about_key(tenant_id: str, doc_id: str, version: int) -> str:
    """Where a replaced version's file name and type are kept (JSON), next to its bytes: the
    row then describes the new version, and the old one's original is still served (with its
    chunks) until the new one is ready."""
    return f"{tenant_id}/{doc_id}/v{version}/about.json"


def chunks_key(tenant_id: str, doc_id: str, version: int) -> str:
    """Where a version parsed before ``core.chunk_pages`` kept its chunks, as one list (still
    read); the parse stage now writes pages."""
    return f"{tenant_id}/{doc_id}/v{version}/chunks.json"


def document_prefix(tenant_id: str, doc_id: str) -> str:
    return f"{tenant_id}/{doc_id}"


def version_prefix(tenant_id: str, doc_id: str, version: int) -> str:
    """Everything kept for one version: its original, its name (about.json), its chunks."""
    return f"{tenant_id}/{doc_id}/v{version}"


def _remove_folder(path: Path) -> None:
    """Remove an emptied folder; one already gone, or refilled by a concurrent writer, is
    left as it is."""
    try:
        path.rmdir()
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno != errno.ENOTEMPTY:
            raise
