"""Parsing in a child process, for the embedded default.

Parsers meet hostile files: one may hang, blow up memory or crash in native code. In a Celery
prefork worker the pool child and the task time limit contain that; in the single-process
embedded mode this wrapper does: a parse that overruns its time is killed, a crashed child
is replaced, and either way only that document fails.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool

from core.errors import UnprocessableDocument
from core.settings import Settings
from ingest.types import Chunk
from workers.services import ParseFn

log = logging.getLogger(__name__)

_child_parse: ParseFn | None = None


def _init_child(settings_json: str) -> None:
    global _child_parse
    from ingest.parsing import warm_up
    from zhiku.assembly import build_parse_fn

    _child_parse = build_parse_fn(Settings.model_validate_json(settings_json))
    warm_up()  # imports unstructured and loads spaCy now, outside any document's time limit


def _ready() -> bool:
    return _child_parse is not None


# Starting a child imports unstructured and loads spaCy: not part of any document's time.
_START_TIMEOUT_S = 300.0


def _parse_in_child(data: bytes, filename: str) -> tuple[list[Chunk], dict[str, object]]:
    assert _child_parse is not None
    return _child_parse(data, filename)


class IsolatedParser:
    def __init__(self, settings: Settings) -> None:
        self._settings_json = settings.model_dump_json()
        self._timeout = settings.parsing.timeout_s
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            pool = ProcessPoolExecutor(
                max_workers=1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_child,
                initargs=(self._settings_json,),
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

    def __call__(self, data: bytes, filename: str) -> tuple[list[Chunk], dict[str, object]]:
        with self._lock:  # one parse at a time: the child is single-threaded anyway
            future = self._ensure_pool().submit(_parse_in_child, data, filename)
            try:
                return future.result(timeout=self._timeout)
            except FutureTimeout:
                self._discard_pool()
                raise UnprocessableDocument(
                    f"parsing took longer than the {self._timeout:.0f} s limit"
                ) from None
            except BrokenProcessPool:
                self._discard_pool()
                raise UnprocessableDocument(
                    "the parser crashed on this file (it may be corrupt or too large)"
                ) from None

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
