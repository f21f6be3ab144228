"""Optimizing the embedded shard in a child process, so the serving process keeps its GIL.

The engine's ``optimize`` holds the GIL for its whole run (20,000 384-d points: 12 s in which
no other Python thread moved), so run in the serving process it stops every request with it.
Here it runs on a *copy* of the shard, in a child process (``python -m index.shard_optimize
<folder>``, at a lower CPU priority), while the server goes on searching and writing the live
shard:

1. writes pause while the shard is flushed and copied into ``.<name>.optimizing`` beside it
   (a file copy: the GIL is released, searches go on);
2. the child loads the copy, optimizes it, flushes and exits; writes made meanwhile go to the
   live shard *and* a replay list;
3. writes pause again: the replay list is applied to the optimized copy, which is then swapped
   with the live folder in one ``renameat2(RENAME_EXCHANGE)`` while searches wait (closing
   and loading a shard takes milliseconds), and the old shard is deleted.

The live shard is never touched by the child: if the child dies (killed, out of memory, disk
full) the copy is dropped and every point is still where it was. A server that dies during a
swap leaves either the old or the new complete shard in place; :func:`restore` and :func:`clean`
put things right when the store next opens. The cost: disk space for a second copy
while it runs, and the child's memory (it maps the shard and builds HNSW in it).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_RENAME_EXCHANGE = 2
_PR_SET_PDEATHSIG = 1
_AT_FDCWD = -100
_STDERR_TAIL = 2000
# Free space asked beyond the copy itself: HNSW files and the child's temporary segments.
_SPACE_FACTOR = 2.0


class OptimizeFailed(Exception):
    """The child could not optimize the copy; the live shard is untouched."""


def staging_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.optimizing")


def previous_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.previous")


def restore(path: Path) -> None:
    """Before the store's folder lock: a two-rename swap (filesystems without
    ``RENAME_EXCHANGE``) that a crash stopped halfway puts the old shard back in place."""
    previous = previous_path(path)
    if previous.exists() and not path.exists():
        os.rename(previous, path)


def clean(path: Path) -> None:
    """Under the store's folder lock: drop what an optimize interrupted by a crash left
    beside ``path`` (a copy half-optimized or not, an old shard already replaced)."""
    shutil.rmtree(previous_path(path), ignore_errors=True)
    shutil.rmtree(staging_path(path), ignore_errors=True)


def copy_shard(path: Path, target: Path, skip: str) -> None:
    """Copy the (flushed, unwritten-to) shard; ``skip`` is the store's lock file."""
    shutil.rmtree(target, ignore_errors=True)
    size = sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
    free = shutil.disk_usage(path.parent).free
    if free < size * _SPACE_FACTOR:
        raise OptimizeFailed(
            f"not optimizing {path}: {free // 2**20} MiB free, the copy needs about "
            f"{int(size * _SPACE_FACTOR) // 2**20} MiB"
        )
    shutil.copytree(path, target, ignore=shutil.ignore_patterns(skip))


def exchange(path: Path, staging: Path) -> Path:
    """Put ``staging`` in place of ``path`` and return where the old shard now is."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        done = renameat2(
            _AT_FDCWD, os.fsencode(path), _AT_FDCWD, os.fsencode(staging), _RENAME_EXCHANGE
        )
        if done == 0:
            return staging
    previous = previous_path(path)  # the two renames that :func:`recover` knows how to finish
    os.rename(path, previous)
    os.rename(staging, path)
    return previous


class OptimizeChild:
    """``python -m index.shard_optimize <folder>``: one optimize of a copy, in its own process."""

    def __init__(self, folder: Path) -> None:
        root = str(Path(__file__).resolve().parents[1])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "index.shard_optimize", str(folder)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
        )
        self.pid = self.process.pid

    def wait(self) -> None:
        """Until the child exits; :class:`OptimizeFailed` unless it optimized the copy."""
        _, stderr = self.process.communicate()
        if self.process.returncode != 0:
            tail = stderr.decode(errors="replace")[-_STDERR_TAIL:].strip()
            raise OptimizeFailed(
                f"the optimize child exited with {self.process.returncode}: {tail or '-'}"
            )

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()


class ShardGate:
    """Many readers and writers share the open shard; a swap or a close waits until none
    uses it, and holds newcomers off meanwhile. Not reentrant: never nest :meth:`using`."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._users = 0
        self._exclusive = False

    @contextmanager
    def using(self) -> Iterator[None]:
        with self._cond:
            while self._exclusive:
                self._cond.wait()
            self._users += 1
        try:
            yield
        finally:
            with self._cond:
                self._users -= 1
                if not self._users:
                    self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            while self._exclusive:
                self._cond.wait()
            self._exclusive = True
            while self._users:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._exclusive = False
                self._cond.notify_all()


def _die_with_parent() -> None:
    """A server killed mid-optimize takes its child along (Linux ``PR_SET_PDEATHSIG``)."""
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    prctl = getattr(libc, "prctl", None)
    if prctl is not None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)


def main(argv: list[str]) -> int:
    """The child: optimize the shard copy at ``argv[0]``, flush it, exit 0."""
    import qdrant_edge as edge

    if len(argv) != 1:
        print("usage: python -m index.shard_optimize <shard folder>", file=sys.stderr)
        return 2
    _die_with_parent()
    os.nice(10)  # the server's requests first: it shares these cores
    shard = edge.EdgeShard.load(argv[0])
    shard.optimize()
    shard.flush()
    shard.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
