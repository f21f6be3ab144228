"""Parsing in the embedded default runs in a child process: one that overruns its time limit
is killed, only that document fails, and the next one is parsed by a fresh child."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from core.errors import UnprocessableDocument, UpstreamUnavailable
from tests.support import make_settings
from workers.isolation import IsolatedParser
from workers.retry import is_transient
from zhiku.parsing import build_parse_fn

pytestmark = pytest.mark.slow  # parser child processes, started and killed


def test_a_parse_over_the_time_limit_is_killed_and_the_next_one_works(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # unstructured's text partitioner (spaCy on every line): Zhiku's own plain-text reader may
    # finish the file below within the limit on a fast machine, and the test would prove nothing.
    settings = make_settings(tmp_path, parsing={"timeout_s": 2.0, "plain_text": "unstructured"})
    parser = IsolatedParser(settings, build_parse_fn)
    try:
        chunks, _ = parser(b"A short note about pumps and valves.", "first.txt")
        assert chunks and "pumps" in chunks[0].text
        # Thousands of short lines: each goes through spaCy's tagger, far beyond 2 s.
        slow = "\n\n".join(f"Short heading number {i}" for i in range(30000)).encode()
        with pytest.raises(UnprocessableDocument, match="longer than"):
            parser(slow, "slow.txt")
        chunks, _ = parser(b"The next document is parsed by a new child.", "next.txt")
        assert "new child" in chunks[0].text
    finally:
        parser.close()


def test_a_batch_of_small_files_shares_a_round_trip_and_a_hang_fails_only_its_file(
    tmp_path,
) -> None:  # type: ignore[no-untyped-def]
    # unstructured's text partitioner, which runs spaCy on every line: a file it takes too
    # long over (Zhiku's own plain-text reader would be done at once).
    settings = make_settings(tmp_path, parsing={"timeout_s": 3.0, "plain_text": "unstructured"})
    parser = IsolatedParser(settings, build_parse_fn)
    slow = "\n\n".join(f"Short heading number {i}" for i in range(9000)).encode()
    items = [
        (b"Pumps need oil every spring.", "a.txt"),
        (b"", "empty.txt"),
        (slow, "slow.txt"),
        (b"Valves are checked in autumn.", "b.txt"),
    ]
    try:
        results = parser.parse_many(items)
        assert len(results) == 4
        first, empty, hung, last = results
        assert not isinstance(first, Exception) and "Pumps" in first[0][0].text
        assert isinstance(empty, UnprocessableDocument)
        assert isinstance(hung, UnprocessableDocument) and "longer than" in str(hung)
        assert not isinstance(last, Exception) and "Valves" in last[0][0].text
        # Small files only: one round trip for all of them.
        quick = parser.parse_many([(f"Note {i} on pumps.".encode(), f"{i}.txt") for i in range(40)])
        assert all(not isinstance(r, Exception) for r in quick)
        assert [r[0][0].text for r in quick] == [f"Note {i} on pumps." for i in range(40)]  # type: ignore[index]
    finally:
        parser.close()


def test_the_parse_child_exits_when_its_server_is_killed(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A server killed with SIGKILL gets no chance to stop its parser: the child notices."""
    script = tmp_path / "server.py"
    script.write_text(
        "import os, sys, time\n"
        "from pathlib import Path\n"
        "from core.settings import Settings\n"
        "from workers.isolation import IsolatedParser\n"
        "from zhiku.parsing import build_parse_fn\n"
        "if __name__ == '__main__':\n"
        "    parser = IsolatedParser(Settings(data_dir=Path(sys.argv[1])), build_parse_fn)\n"
        "    parser(b'warm up', 'a.txt')\n"
        "    print(*[p.pid for p in parser._pool._processes.values()], flush=True)\n"
        "    time.sleep(600)\n"
    )
    repo = Path(__file__).resolve().parents[2]
    server = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "data")],
        cwd=repo,
        env={**os.environ, "PYTHONPATH": str(repo)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        child = int(server.stdout.readline())
        assert psutil.pid_exists(child)
    finally:
        server.kill()
        server.wait()
    deadline = time.monotonic() + 15
    while psutil.pid_exists(child) and psutil.Process(child).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline, "the parse child outlived its server"
        time.sleep(0.2)


def test_a_parse_over_the_memory_limit_fails_alone_and_the_child_is_replaced(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A file within the upload limit that makes the parser allocate far more than it weighs
    (one 40 MB paragraph: unstructured and spaCy copy it many times) fails with the memory
    reason; the next document is parsed by a fresh child, the server's memory untouched."""
    settings = make_settings(
        tmp_path, parsing={"timeout_s": 300.0}, worker={"parse": {"max_memory_mib": 256}}
    )
    parser = IsolatedParser(settings, build_parse_fn)
    try:
        parser(b"Warm the child up before measuring.", "warm.txt")
        first_child = set(parser._pool._processes)  # type: ignore[union-attr]
        hostile = ("pump valve 泵 阀门 " * 2_500_000).encode()  # ~40 MB, no line break
        with pytest.raises(UnprocessableDocument, match=r"needed more than 256 MiB"):
            parser(hostile, "bomb.txt")
        chunks, _ = parser("The next document: 下一份文件照常解析。".encode(), "next.txt")
        assert "下一份文件" in chunks[0].text
        assert set(parser._pool._processes).isdisjoint(first_child)  # type: ignore[union-attr]
    finally:
        parser.close()


def test_closing_cuts_a_long_parse_short_and_leaves_its_document_for_later(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # close() waited for the parser's lock, held by a parse for up to timeout_s: stopping the
    # server hung behind a slow file (a million-row sheet: the whole 600 s).
    settings = make_settings(tmp_path, parsing={"timeout_s": 600.0, "plain_text": "unstructured"})
    parser = IsolatedParser(settings, build_parse_fn)
    parser(b"A first note starts the child.", "first.txt")
    slow = "\n\n".join(f"Short heading number {i}" for i in range(60000)).encode()
    outcome: dict[str, object] = {}

    def parse() -> None:
        try:
            outcome["result"] = parser(slow, "slow.txt")
        except Exception as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=parse)
    thread.start()
    time.sleep(2.0)
    started = time.monotonic()
    parser.close()
    thread.join(60)
    assert not thread.is_alive() and time.monotonic() - started < 30
    # Transient: the runner releases the document for the next start instead of failing it.
    error = outcome["error"]
    assert isinstance(error, UpstreamUnavailable) and is_transient(error)
    with pytest.raises(UpstreamUnavailable):
        parser(b"No new child once closed.", "after.txt")
    assert all(isinstance(r, UpstreamUnavailable) for r in parser.parse_many([(b"a", "a.txt")] * 2))


def _gone(pid: int, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_child_stopped_between_parses_is_gone_and_the_next_parse_starts_another(
    tmp_path,
) -> None:  # type: ignore[no-untyped-def]
    """The small-file lane stops its child when idle (``workers.local``): the process and its
    memory are given back, and the lane's next file is parsed by a new child."""
    parser = IsolatedParser(make_settings(tmp_path), build_parse_fn)
    try:
        assert "pumps" in parser(b"A note about pumps.", "a.txt")[0][0].text
        (first,) = parser._pool._processes  # type: ignore[union-attr]
        parser.stop_child()
        assert _gone(first) and parser._pool is None
        assert "valves" in parser(b"A note about valves.", "b.txt")[0][0].text
        assert list(parser._pool._processes) != [first]  # type: ignore[union-attr]
    finally:
        parser.close()
