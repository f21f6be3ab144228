"""Small files do not wait for large files' parses in the Celery deployment (real API and
worker processes, PostgreSQL, Redis):

- a parse worker (``--queues parse``) serves the small-file queue as well: a memo uploaded in
  the same request as a large file is ready while the large file is being parsed;
- while every process of the parse workers is on a large file, a memo uploaded afterwards
  is parsed by the small-file worker (``--queues parse-small``, compose.yaml's
  worker-parse-small) and is ready before they finish. Before it, the memo waited for them.

A large file's parse is held until the test releases it (``tests.workers.held_worker``: the
real parser, waiting at no CPU), so the order is not a matter of timing or of the machine's
load."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.files import long_text
from tests.live import process
from tests.workers.held_worker import HELD_WORKER, HOLD_DIR_VARIABLE, RELEASE, markers
from tests.workers.test_celery_e2e import _poll, stack  # noqa: F401 (the module's stack)
from workers.parse_stage import SMALL_FILE_BYTES

pytestmark = pytest.mark.slow  # real worker processes

MEMO = ("memo.txt", "Memo: valve 7 in hall 3 leaks. 三号车间七号阀门漏水。".encode())
MEMO_ZH = ("备忘录.txt", "备忘：二号锅炉周五停机检修。Boiler 2 is down on Friday.".encode())


def _large_english() -> tuple[str, bytes]:
    return "maintenance-manual.txt", long_text(150, seed=14).encode()


def _large_chinese() -> tuple[str, bytes]:
    # 700 paragraphs of ~35 characters: ~75 KB in UTF-8 (24,000 characters): large by bytes.
    text = "\n\n".join(
        f"第{i}节：三号车间的阀门、水泵和锅炉每月检查一次，记录压力和温度。" for i in range(700)
    )
    return "设备维护手册.txt", text.encode()


def _terminal(doc: dict) -> bool:
    return doc["status"] in ("ready", "failed")


def _until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def _held_env(world: dict, name: str) -> tuple[dict[str, str], Path]:
    """The stack's environment for held workers, and the folder they talk through."""
    hold = world["dir"] / f"hold-{name}"
    hold.mkdir()
    return {**world["env"], HOLD_DIR_VARIABLE: str(hold)}, hold


def _upload(client: httpx.Client, files: list[tuple[str, bytes]]) -> list[str]:
    r = client.post("/v1/documents", files=[("files", f) for f in files])
    assert r.status_code == 202, r.text
    return [d["id"] for d in r.json()["data"]]


def _stage(client: httpx.Client, doc_id: str) -> tuple[str, str]:
    doc = client.get(f"/v1/documents/{doc_id}").json()
    return doc["status"], doc["stage"]


def test_a_memo_in_the_same_request_as_a_large_file_is_ready_while_it_is_parsed(
    stack: dict,  # noqa: F811
) -> None:
    client: httpx.Client = stack["client"]
    env, hold = _held_env(stack, "same-request")
    large = _large_english()
    assert len(large[1]) > SMALL_FILE_BYTES
    # Uploaded before any worker runs: the large file and the memo wait on their own queues,
    # and the one parse worker (one process) serves both.
    large_id, memo_id = _upload(client, [large, MEMO])
    logs = stack["dir"]
    with (
        process(["worker", "--queues", "parse"], env, logs / "order-parse.log", HELD_WORKER),
        process(["worker", "--queues", "embed"], env, logs / "order-embed.log"),
    ):
        memo = _poll(client, memo_id, _terminal, 240)
        assert memo["status"] == "ready", memo["error"]
        _until(lambda: markers(hold, "started") == [large[0]], 120, "the large parse started")
        # Ready while the large file is still being parsed.
        assert _stage(client, large_id) == ("processing", "parsing")
        (hold / RELEASE).touch()
        final = _poll(client, large_id, _terminal, 240)
        assert final["status"] == "ready", final["error"]


def test_a_memo_is_parsed_while_every_parse_process_is_on_a_large_file(
    stack: dict,  # noqa: F811
) -> None:
    client: httpx.Client = stack["client"]
    env, hold = _held_env(stack, "lane")
    larges = [_large_english(), _large_chinese()]
    assert all(len(data) > SMALL_FILE_BYTES for _, data in larges)
    logs = stack["dir"]
    parse = ["worker", "--queues", "parse", "--concurrency", "2"]
    with (
        process(parse, env, logs / "lane-parse.log", HELD_WORKER),
        process(["worker", "--queues", "parse-small"], env, logs / "lane-small.log", HELD_WORKER),
        process(["worker", "--queues", "embed"], env, logs / "lane-embed.log"),
    ):
        # One request, one message a large file: the two processes take one each.
        large_ids = _upload(client, larges)
        names = sorted(name for name, _ in larges)
        _until(lambda: sorted(markers(hold, "started")) == names, 180, "both large parses")
        memo_ids = _upload(client, [MEMO, MEMO_ZH])
        for memo_id in memo_ids:
            memo = _poll(client, memo_id, _terminal, 240)
            assert memo["status"] == "ready", memo["error"]
        # Both parse processes are still on their large files: the small-file worker parsed
        # the memos (before, they waited for a process to finish a large file).
        for large_id in large_ids:
            assert _stage(client, large_id) == ("processing", "parsing")
        assert sorted(markers(hold, "parsed")) == sorted([MEMO[0], MEMO_ZH[0]])
        (hold / RELEASE).touch()
        for large_id in large_ids:
            final = _poll(client, large_id, _terminal, 240)
            assert final["status"] == "ready", final["error"]
