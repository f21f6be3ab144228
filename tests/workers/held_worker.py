"""``zhiku`` with the real parser, except that a large file's parse waits until the test
releases it: the Celery tests' slow large file, held for as long as the test needs, at no CPU
and without a sleep in the product. Run as ``python -m tests.workers.held_worker worker
--queues parse`` (``tests.live.process(..., module=HELD_WORKER)``).

The test and the worker's processes (prefork children included) talk through the folder
named by ``HELD_PARSE_DIR``: a parse that meets a file over ``SMALL_FILE_BYTES`` writes
``started-<pid>-<n>`` there (its file's name inside) and waits until ``release`` exists;
every parse, held or not, writes ``parsed-<pid>-<n>`` the same way once it is done.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
from pathlib import Path

from core.settings import Settings
from workers.context import ParseFn, ParseResult
from workers.parse_stage import SMALL_FILE_BYTES
from zhiku import parsing

HELD_WORKER = "tests.workers.held_worker"
HOLD_DIR_VARIABLE = "HELD_PARSE_DIR"
RELEASE = "release"
# A held parse gives up after this: a test that failed half-way must not leave workers behind.
MOST_S = 600.0

_real_build_parse_fn = parsing.build_parse_fn
_count = itertools.count()


def _mark(folder: Path, kind: str, filename: str) -> None:
    name = f"{kind}-{os.getpid()}-{next(_count)}"
    # Written aside, then renamed: the test never reads a marker half-written.
    aside = folder / f".{name}"
    aside.write_text(filename, encoding="utf-8")
    aside.rename(folder / name)


def held_parse_fn(settings: Settings) -> ParseFn:
    parse = _real_build_parse_fn(settings)
    folder = Path(os.environ[HOLD_DIR_VARIABLE])

    def held(data: bytes, filename: str) -> ParseResult:
        if len(data) > SMALL_FILE_BYTES:
            _mark(folder, "started", filename)
            deadline = time.monotonic() + MOST_S
            while not (folder / RELEASE).exists():
                if time.monotonic() > deadline:
                    raise TimeoutError("the test never released the large file")
                time.sleep(0.02)
        result = parse(data, filename)
        _mark(folder, "parsed", filename)
        return result

    return held


def markers(folder: Path, kind: str) -> list[str]:
    """The file names of the parses that reached ``kind`` (``started`` or ``parsed``)."""
    return [p.read_text(encoding="utf-8") for p in folder.glob(f"{kind}-*")]


if __name__ == "__main__":
    # Before the CLI imports the worker module, which takes ``build_parse_fn`` by name; the
    # prefork children inherit the patched module.
    parsing.build_parse_fn = held_parse_fn
    from zhiku.cli import app

    sys.argv[0] = "zhiku"
    app()
