"""Where original files are kept. A local folder by default; an S3-compatible store can
implement the same protocol later. Keys are chosen by us (``tenant/doc/version``), never by
the uploader, so a hostile file name cannot reach the file system."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

from core.errors import NotFound

_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$")


class BlobStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...

    def delete_prefix(self, prefix: str) -> None: ...

    def exists(self, key: str) -> bool: ...


class LocalBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        if not _KEY.match(key) or ".." in key.split("/"):
            raise ValueError(f"invalid blob key {key!r}")
        return self.root / key

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write then rename: a reader never sees half a file, even after a crash.
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as exc:
            raise NotFound(f"blob {key} is missing") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete_prefix(self, prefix: str) -> None:
        base = self._path(prefix.rstrip("/"))
        if base.is_file():
            base.unlink()
            return
        if not base.is_dir():
            return
        for path in sorted(base.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        base.rmdir()


def original_key(tenant_id: str, doc_id: str, version: int) -> str:
    """Where a document version's uploaded bytes are kept."""
    return f"{tenant_id}/{doc_id}/v{version}/original"


def chunks_key(tenant_id: str, doc_id: str, version: int) -> str:
    """Where the parse stage leaves a version's chunks for the embed stage."""
    return f"{tenant_id}/{doc_id}/v{version}/chunks.json"


def document_prefix(tenant_id: str, doc_id: str) -> str:
    return f"{tenant_id}/{doc_id}"
