"""A Celery parse task parses its group's small files before its large ones: a memo uploaded
after a slow large file, in the same request (one message, one group), is ready while the
large file is still being parsed (real API and worker processes, PostgreSQL, Redis). The
large file is slow by its content: thousands of short lines, each tagged by spaCy in
unstructured's text partitioner (``tests/workers/test_isolation`` uses the same)."""

from __future__ import annotations

import httpx
import pytest

from tests.live import process
from tests.workers.test_celery_e2e import _poll, stack  # noqa: F401 (the module's stack)
from workers.parse_stage import SMALL_FILE_BYTES

pytestmark = pytest.mark.slow  # real worker processes

# About 10 ms of spaCy a line on two loaded cores: minutes of parsing.
SLOW_LINES = 30_000


def test_a_memo_after_a_slow_large_file_is_ready_while_it_is_parsed(stack: dict) -> None:  # noqa: F811
    client: httpx.Client = stack["client"]
    large = "\n\n".join(f"Short heading number {i}" for i in range(SLOW_LINES)).encode()
    assert len(large) > SMALL_FILE_BYTES
    files = [("slow-manual.txt", large), ("memo.txt", b"Memo: valve 7 in hall 3 leaks.")]
    # Uploaded before any worker runs: one message names both, one task takes both.
    r = client.post("/v1/documents", files=[("files", f) for f in files])
    assert r.status_code == 202, r.text
    large_id, memo_id = (d["id"] for d in r.json()["data"])
    env = {**stack["env"], "ZHIKU_PARSING__PLAIN_TEXT": "unstructured"}
    logs = stack["dir"]
    with (
        process(["worker", "--queues", "parse"], env, logs / "order-parse.log"),
        process(["worker", "--queues", "embed"], env, logs / "order-embed.log"),
    ):
        memo = _poll(client, memo_id, lambda d: d["status"] in ("ready", "failed"), 240)
        assert memo["status"] == "ready", memo["error"]
        mid = client.get(f"/v1/documents/{large_id}").json()
        # Before, the group's files went in upload order: the memo waited for the whole parse.
        assert (mid["status"], mid["stage"]) == ("processing", "parsing"), mid
