"""The lock file that makes one process (one store object) the owner of an embedded shard
folder; a backup's restore takes it too."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from core.errors import Component, UpstreamUnavailable

LOCK_FILE = ".zhiku.lock"


class FolderLock:
    """An exclusive ``flock`` on a file in the folder: released on close or process death."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            os.close(self._fd)
            self._fd = None
            raise UpstreamUnavailable(
                f"the embedded vector store at {folder} is open in another process or store "
                "object: stop it, or share the index through a Qdrant server (ZHIKU_QDRANT__URL)",
                component=Component.VECTOR_STORE,
            ) from exc

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None
