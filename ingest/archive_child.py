"""7z and RAR archives unpacked by libarchive in a child process, never in the caller's.

Uploads are unpacked where they arrive: in the API process. libarchive is native code that
allocates what an archive's headers ask for (a 7z may declare a 4 GiB LZMA dictionary, a RAR 5
a 4 GiB window) and may crash on a hostile file; in the API process either would take the
server's address space or the server with it. So each 7z/RAR archive is read by a spawned
child that:

- runs with an address-space limit (``RLIMIT_AS``, soft, set per archive): what it maps when
  idle, plus twice the bytes the archive may still unpack (its members are held, then pickled
  back), plus ``WORKING_MIB`` for libarchive's own tables and windows. Past it an allocation
  fails and only this archive is refused;
- has ``TIMEOUT_S`` per archive: past it the child is killed and replaced;
- is started once per process and reused (its start, ~0.3 s, is not paid per upload); one
  archive at a time, since each may use up to its limit.

The limits on members, bytes and ratio (``ingest.archive_readers.Budget``) are enforced in the
child while it inflates, exactly as before; the budget's counts come back with the members.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import resource
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool

from core.errors import UnprocessableDocument
from core.settings import LimitsSettings
from ingest.archive_readers import Budget, Entry, read_entries

# libarchive's own memory beyond the members it hands over: RAR 5 windows and 7z LZMA
# dictionaries of real archives are at most 64-256 MiB (7-Zip's "ultra" uses 64 MiB).
WORKING_MIB = 512
TIMEOUT_S = 300.0
_START_TIMEOUT_S = 120.0

_lock = threading.Lock()
_pools: dict[int, ProcessPoolExecutor] = {}


def read_isolated(data: bytes, name: str, kind: str, budget: Budget) -> list[Entry]:
    """:func:`ingest.archive_readers.read_entries` in the unpacking child; ``budget`` is
    updated with what the child took out."""
    extra = 2 * max(budget.bytes_left(), 0) + WORKING_MIB * 1024 * 1024
    state = (budget.limits.model_dump(), budget.max_members, budget.members, budget.unpacked)
    with _lock:
        for attempt in (1, 2):
            try:
                future = _pool().submit(_read_in_child, data, name, kind, state, extra)
                entries, members, unpacked = future.result(timeout=TIMEOUT_S)
                break
            except FutureTimeout:
                _discard()
                raise UnprocessableDocument(
                    f"unpacking {name} took longer than {TIMEOUT_S:.0f} s (limit)"
                ) from None
            except BrokenProcessPool:
                # Once more in a new child: the old one may have died before this archive
                # (killed, out of memory on the one before); twice is this archive's doing.
                _discard()
                if attempt == 2:
                    raise UnprocessableDocument(
                        f"unpacking {name} crashed the unpacker or needed too much memory"
                    ) from None
    budget.members, budget.unpacked = members, unpacked
    return entries


def _pool() -> ProcessPoolExecutor:
    pid = os.getpid()  # a forked child must not use its parent's pool
    if pid not in _pools:
        pool = ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_init
        )
        try:
            pool.submit(_ready).result(timeout=_START_TIMEOUT_S)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        _pools[pid] = pool
    return _pools[pid]


def _discard() -> None:
    pool = _pools.pop(os.getpid(), None)
    if pool is None:
        return
    for process in list(getattr(pool, "_processes", {}).values()):
        process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


def unpacker_pid() -> int | None:
    """The child's process id, once started (for tests and diagnostics)."""
    pool = _pools.get(os.getpid())
    processes = list(getattr(pool, "_processes", {}).values()) if pool else []
    return processes[0].pid if processes else None


# --- in the child ---------------------------------------------------------------------------

_parent = 0


def _init() -> None:
    global _parent
    _parent = os.getppid()
    threading.Thread(target=_exit_with_parent, name="zhiku-parent-watch", daemon=True).start()
    import libarchive  # noqa: F401  (loaded before the first archive's limit is computed)


def _exit_with_parent() -> None:
    # A killed server must not leave its unpacker behind.
    while os.getppid() == _parent:
        time.sleep(1.0)
    os._exit(0)


def _ready() -> int:
    return os.getpid()


def _read_in_child(
    data: bytes, name: str, kind: str, state: tuple[dict[str, object], int, int, int], extra: int
) -> tuple[list[Entry], int, int]:
    limits, max_members, members, unpacked = state
    budget = Budget(LimitsSettings.model_validate(limits), max_members)
    budget.members, budget.unpacked = members, unpacked
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as statm:
        mapped = int(statm.read().split()[0]) * resource.getpagesize()
    soft = mapped + extra
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    try:
        entries = list(read_entries(data, name, kind, budget))
    except MemoryError:
        raise UnprocessableDocument(
            f"unpacking {name} needed more memory than its limit (possibly an archive bomb)"
        ) from None
    finally:
        # The result is pickled after this returns: it is within the limit (counted twice).
        with contextlib.suppress(ValueError):
            resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
    return entries, budget.members, budget.unpacked
