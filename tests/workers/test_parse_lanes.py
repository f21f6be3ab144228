"""The embedded default does not make small files wait for a large file's parse: while its one
parse thread is held by a large file, a memo uploaded after it is parsed by the small-file lane
and is ready first; while nothing large is parsed, the lane's child (a second parse process)
is not started, and once idle it is stopped. Real stages on SQLite and the embedded engine;
the large file's parse is held by the test until the memos are ready, so the order is not a
matter of timing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from core.db import documents as doc_queries
from core.db import identity
from core.db.session import transaction
from core.dispatch import QueuedDocument
from tests.files import long_text
from tests.support import make_settings
from tests.workers.helpers import new_doc
from workers import small_file_lane
from workers.context import ParseFn, ParseResult, StageContext
from workers.local import LocalDispatcher
from workers.parse_stage import SMALL_FILE_BYTES
from workers.retry import RetryPolicy
from zhiku.container import Container, build_parse_fn
from zhiku.database import build_sessions


@pytest.fixture
def world(tmp_path: Path):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path, embedding={"batch_size": 4})
    build_sessions(settings, migrate=True)
    container = Container(settings, role="cli")
    with transaction(container.sessions) as s:
        tenant = identity.create_tenant(s, "lanes")
        principal = identity.principal_for(identity.create_user(s, tenant.id, "u"))
    yield container.stage_context, build_parse_fn(settings), principal
    container.close()


class _Held:
    """The real parser; a file larger than ``SMALL_FILE_BYTES`` is held until released."""

    def __init__(self, parse: ParseFn) -> None:
        self._parse = parse
        self.large_started = threading.Event()
        self.release = threading.Event()
        self.parsed: list[int] = []  # sizes of the files parsed

    def __call__(self, data: bytes, filename: str) -> ParseResult:
        if len(data) > SMALL_FILE_BYTES:
            self.large_started.set()
            assert self.release.wait(120), "the test never released the large file"
        self.parsed.append(len(data))
        return self._parse(data, filename)


class _LaneParser(_Held):
    """The lane's parser, with a child that is started and stopped (as ``IsolatedParser``)."""

    def __init__(self, parse: ParseFn) -> None:
        super().__init__(parse)
        self.up = False
        self.starts = self.stops = 0

    def child_running(self) -> bool:
        return self.up

    def start_child(self) -> None:
        self.up, self.starts = True, self.starts + 1

    def stop_child(self) -> None:
        if self.up:
            self.up, self.stops = False, self.stops + 1

    def __call__(self, data: bytes, filename: str) -> ParseResult:
        assert self.up, "parsed without a child"
        return super().__call__(data, filename)


def _status(svc: StageContext, doc_id: str) -> tuple[str, str]:
    with svc.sessions() as s:
        doc = doc_queries.get_document(s, doc_id)
        return doc.status, doc.stage


def _wait(svc: StageContext, doc_id: str, status: str, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while _status(svc, doc_id)[0] != status:
        assert time.monotonic() < deadline, (doc_id, _status(svc, doc_id))
        time.sleep(0.05)


def _queue(dispatcher: LocalDispatcher, svc, principal, text: str) -> str:  # type: ignore[no-untyped-def]
    doc_id = new_doc(svc, principal, text)
    size = len(text.encode())
    dispatcher.parse_many([QueuedDocument(doc_id, 1, principal.tenant_id, size)])
    return doc_id


def test_a_memo_uploaded_during_a_large_parse_is_ready_first(world, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    svc, parse, principal = world
    monkeypatch.setattr(small_file_lane, "GRACE_S", 0.5)
    monkeypatch.setattr(small_file_lane, "IDLE_S", 1.0)
    general, lane = _Held(parse), _LaneParser(parse)
    dispatcher = LocalDispatcher(svc, [general], RetryPolicy(), small_file_parser=lane)
    dispatcher.start(sweep=False)
    try:
        # Nothing large in the way: the parse thread takes small files, the lane's child is
        # not started.
        first = _queue(dispatcher, svc, principal, "Memo: the boiler in block 2 is due.")
        _wait(svc, first, "ready")
        assert lane.starts == 0
        large_text = long_text(200, seed=61)
        assert len(large_text.encode()) > SMALL_FILE_BYTES
        large = _queue(dispatcher, svc, principal, large_text)
        assert general.large_started.wait(60)
        memos = [
            _queue(dispatcher, svc, principal, f"Memo {i}: valve {i} in hall 3 leaks. 阀门漏水。")
            for i in range(3)
        ]
        for memo in memos:
            _wait(svc, memo, "ready")
        # Ready while the large file is still being parsed, by the lane's parser.
        assert _status(svc, large) == ("processing", "parsing")
        assert len(lane.parsed) == len(memos) and max(lane.parsed) <= SMALL_FILE_BYTES
        assert lane.starts == 1
        general.release.set()
        _wait(svc, large, "ready")
        assert len(general.parsed) == 2  # the first memo and the large file
        # Idle, and nothing large in the way: the lane's child is stopped.
        deadline = time.monotonic() + 30
        while lane.up:
            assert time.monotonic() < deadline, "the lane's child was never stopped"
            time.sleep(0.05)
        assert lane.stops == 1
    finally:
        general.release.set()
        dispatcher.stop()
