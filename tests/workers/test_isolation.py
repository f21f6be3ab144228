"""Parsing in the embedded default runs in a child process: one that overruns its time limit
is killed, only that document fails, and the next one is parsed by a fresh child."""

from __future__ import annotations

import pytest

from core.errors import UnprocessableDocument
from tests.conftest import make_settings
from workers.isolation import IsolatedParser


def test_a_parse_over_the_time_limit_is_killed_and_the_next_one_works(tmp_path) -> None:  # type: ignore[no-untyped-def]
    parser = IsolatedParser(make_settings(tmp_path, parsing={"timeout_s": 2.0}))
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
