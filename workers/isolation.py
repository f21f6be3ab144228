"""Parsing in a child process, for the embedded default.

Parsers meet hostile files: one may hang, blow up memory or crash in native code. In a Celery
prefork worker the pool child and the task time limit contain that; in the single-process
embedded mode this wrapper does: a parse that overruns its time is killed, one that needs more
memory than ``WorkerSettings.parse.max_memory_mib`` fails (an address-space limit in the child,
so the kernel's OOM killer never has to choose between the parser and the API), a crashed child
is replaced, and either way only that document fails. The child ends itself when the server
dies, even by SIGKILL (a watchdog on its parent).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import pickle
import resource
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool

from core.errors import UnprocessableDocument, UpstreamUnavailable, ZhikuError
from core.settings import Settings
from workers.context import ParseFn, ParseResult

log = logging.getLogger(__name__)

_child_parse: ParseFn | None = None


# Builds the parse function from settings, in the child: a module-level function (the
# composition root's ``build_parse_fn``), so it crosses the process boundary by name.
BuildParser = Callable[[Settings], ParseFn]


def _init_child(
    build: BuildParser, settings_json: str, parent_pid: int, memory_limit_mib: int
) -> None:
    global _child_parse
    threading.Thread(
        target=_exit_with_parent, args=(parent_pid,), name="zhiku-parent-watch", daemon=True
    ).start()
    from ingest.parsing import warm_up

    _child_parse = build(Settings.model_validate_json(settings_json))
    warm_up()  # imports unstructured and loads spaCy now, outside any document's time limit
    if memory_limit_mib > 0:
        _limit_address_space(memory_limit_mib)


def _limit_address_space(extra_mib: int) -> None:
    """Cap the child's address space at what it maps now, warmed up, plus ``extra_mib``: the
    limit is what one parse may add, whatever the libraries map at start (~2 GiB here, most
    of it never touched). Past it an allocation fails: ``MemoryError`` in Python, a crash in
    native code; either fails only this document."""
    with open("/proc/self/statm") as statm:
        mapped = int(statm.read().split()[0]) * resource.getpagesize()
    limit = mapped + extra_mib * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _exit_with_parent(parent_pid: int) -> None:
    """A killed server must not leave its parser behind (it holds ~1 GB): the pool's own
    pipes do not tell the child, since it holds both of their ends."""
    while os.getppid() == parent_pid:
        time.sleep(1.0)
    os._exit(0)


def _ready() -> bool:
    return _child_parse is not None


# Starting a child imports unstructured and loads spaCy: not part of any document's time.
_START_TIMEOUT_S = 300.0


def _parse_in_child(data: bytes, filename: str) -> ParseResult:
    assert _child_parse is not None
    return _child_parse(data, filename)


def _parse_many_in_child(items: Sequence[tuple[bytes, str]]) -> list[ParseResult | Exception]:
    assert _child_parse is not None
    results: list[ParseResult | Exception] = []
    for data, filename in items:
        try:
            results.append(_child_parse(data, filename))
        except Exception as exc:
            results.append(exc if _survives_pickling(exc) else ParserFault(exc))
    return results


def _survives_pickling(exc: Exception) -> bool:
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return False
    return True


class ParserFault(ZhikuError):
    """A parser exception that could not cross the process boundary as itself (a library's,
    with an unusual constructor): its type and message."""

    def __init__(self, original: Exception | str) -> None:
        text = original if isinstance(original, str) else f"{type(original).__name__}: {original}"
        super().__init__(text)


class IsolatedParser:
    def __init__(self, settings: Settings, build: BuildParser) -> None:
        self._build = build
        self._settings_json = settings.model_dump_json()
        self._timeout = settings.parsing.timeout_s
        self._memory_mib = settings.worker.parse.max_memory_mib
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._closing = threading.Event()

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._closing.is_set():
            raise _stopping()
        if self._pool is None:
            pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_child,
                initargs=(self._build, self._settings_json, os.getpid(), self._memory_mib),
            )
            try:
                pool.submit(_ready).result(timeout=_START_TIMEOUT_S)
            except BaseException:
                pool.shutdown(wait=False, cancel_futures=True)
                raise
            self._pool = pool
        return self._pool

    def _discard_pool(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()
        pool.shutdown(wait=False, cancel_futures=True)

    def __call__(self, data: bytes, filename: str) -> ParseResult:
        try:
            return self._parse(data, filename)
        except Exception:
            if self._closing.is_set():  # cut short by close(): not the file's fault
                raise _stopping() from None
            raise

    def _parse(self, data: bytes, filename: str) -> ParseResult:
        with self._lock:  # one parse at a time: the child is single-threaded anyway
            future = self._ensure_pool().submit(_parse_in_child, data, filename)
            try:
                return future.result(timeout=self._timeout)
            except FutureTimeout:
                self._discard_pool()
                raise UnprocessableDocument(
                    f"parsing took longer than the {self._timeout:.0f} s limit"
                ) from None
            except MemoryError:
                self._discard_pool()  # a child that ran out may be left in a bad state
                raise self._too_big() from None
            except BrokenProcessPool:
                self._discard_pool()
                raise UnprocessableDocument(
                    "the parser crashed on this file (it may be corrupt, or parsing needed "
                    f"more than the {self._memory_mib} MiB limit)"
                ) from None

    def _too_big(self) -> UnprocessableDocument:
        return UnprocessableDocument(
            f"parsing needed more than {self._memory_mib} MiB "
            "(WorkerSettings.parse.max_memory_mib); the file may be a decompression bomb"
        )

    def parse_many(self, items: Sequence[tuple[bytes, str]]) -> list[ParseResult | Exception]:
        """Several files in one round trip to the child: for short texts the round trip,
        not the parsing, is most of the cost. If the batch overruns the time limit or
        crashes the child, the files are parsed again one at a time, so that only the
        guilty one fails."""
        if len(items) == 1:
            return [self._one(*items[0])]
        try:
            return self._parse_batch(items)
        except Exception:
            if self._closing.is_set():
                return [_stopping() for _ in items]
            raise

    def _parse_batch(self, items: Sequence[tuple[bytes, str]]) -> list[ParseResult | Exception]:
        results: list[ParseResult | Exception] | None
        with self._lock:
            future = self._ensure_pool().submit(_parse_many_in_child, list(items))
            try:
                results = future.result(timeout=self._timeout)
            except (FutureTimeout, BrokenProcessPool):
                log.warning("a batch of %d files failed in the parser; one by one", len(items))
                self._discard_pool()
                results = None
            else:
                if any(isinstance(result, MemoryError) for result in results):
                    self._discard_pool()
        if results is None:  # outside the lock: each file takes it again
            return [self._one(data, filename) for data, filename in items]
        return [self._too_big() if isinstance(r, MemoryError) else r for r in results]

    def _one(self, data: bytes, filename: str) -> ParseResult | Exception:
        try:
            return self(data, filename)
        except Exception as exc:
            return exc

    def child_running(self) -> bool:
        return self._pool is not None

    def start_child(self) -> None:
        """Start the child now (imports and spaCy: seconds), not at the next parse."""
        with self._lock:
            self._ensure_pool()

    def stop_child(self) -> None:
        """Stop the child between parses, to give its memory back while it is not needed;
        the next parse starts a new one. Nothing happens while a parse holds it."""
        if not self._lock.acquire(blocking=False):
            return
        try:
            self._discard_pool()
        finally:
            self._lock.release()

    def close(self) -> None:
        """Stop at once: the child is killed, without waiting for the lock (a parse holds it
        for up to ``timeout_s``). A parse cut short raises ``_stopping()``, a transient error:
        its document is released, not failed, and parsed again at the next start."""
        self._closing.set()
        pool, self._pool = self._pool, None
        if pool is not None:
            for process in list(getattr(pool, "_processes", {}).values()):
                process.kill()
            pool.shutdown(wait=False, cancel_futures=True)


def _stopping() -> UpstreamUnavailable:
    return UpstreamUnavailable("the parse child was stopped: the server is shutting down")
