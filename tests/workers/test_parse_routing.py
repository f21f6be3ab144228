"""Celery's parse routing (``workers.dispatch``): small files, by their bytes, to the
small-file queue, several to a message; large files and those of unknown size to the parse
queue, one a message; a group that mixes them is split. Retries, the embed stage's hand-back
to parsing, a parse group's companions and messages sent before sizes travelled are routed
the same way. Real Redis: the messages are read back from its lists. And ``zhiku worker
--queues``: which queues each kind of worker serves."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest
import redis

from core.db import documents as doc_queries
from core.db import identity
from core.db.session import transaction
from core.dispatch import QueuedDocument
from core.errors import Component, UpstreamUnavailable
from tests.support import make_settings
from tests.workers.helpers import new_doc
from workers.context import Outcome, StageContext, parse_each
from workers.dispatch import JOBS_PER_MESSAGE, CeleryDispatcher, job_args, job_from_args
from workers.parse_stage import SMALL_FILE_BYTES
from workers.queue_depth import BROKER, QUEUES, broker_depths
from workers.queues import (
    EMBED_MANY_TASK,
    EMBED_QUEUE,
    MAINTENANCE_QUEUE,
    PARSE_MANY_TASK,
    PARSE_QUEUE,
    PARSE_SMALL_QUEUE,
    PARSE_TASK,
)
from workers.retry import RetryPolicy
from workers.runner import IngestionRunner, Stage, StageJob, StageReport
from zhiku.container import Container, build_parse_fn
from zhiku.database import build_sessions

# 30,000 Chinese characters: fewer characters than SMALL_FILE_BYTES, ~88 KiB of UTF-8. The
# parse stage reads bytes, so the routing must too.
CHINESE_LARGE = "阀门检修记录。" * 4286


class Sent:
    """The messages on the Celery queues, as the workers will read them."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client

    def __call__(self, queue: str) -> list[tuple[str, list[StageJob], bool]]:
        """(task, jobs, has a countdown) of each message on ``queue``, oldest first."""
        out = []
        # Kombu pushes at the head and pops from the tail: oldest last.
        for raw in reversed(self._client.lrange(queue, 0, -1)):
            message = json.loads(raw)
            task = message["headers"]["task"]
            args = json.loads(base64.b64decode(message["body"]))[0]
            if task in (PARSE_MANY_TASK, EMBED_MANY_TASK):
                jobs = [job_from_args(a) for a in args[0]]
            else:
                doc_id, version, attempt, size = args
                jobs = [StageJob(doc_id, version, attempt, "", size)]
            out.append((task, jobs, message["headers"].get("eta") is not None))
        return out

    def clear(self) -> None:
        self._client.delete(*QUEUES)


@pytest.fixture
def sent(redis_url: str) -> Iterator[Sent]:
    client = redis.Redis.from_url(redis_url)
    messages = Sent(client)
    messages.clear()
    yield messages
    messages.clear()
    client.close()


@pytest.fixture
def dispatcher(tmp_path: Path, redis_url: str) -> CeleryDispatcher:
    return CeleryDispatcher(make_settings(tmp_path, redis_url=redis_url))


def _ids(messages: list[tuple[str, list[StageJob], bool]]) -> list[list[str]]:
    return [[job.doc_id for job in jobs] for _, jobs, _ in messages]


def test_an_upload_is_split_by_size(
    dispatcher: CeleryDispatcher, sent: Sent, redis_url: str
) -> None:
    assert len(CHINESE_LARGE) < SMALL_FILE_BYTES < len(CHINESE_LARGE.encode())
    files = {
        "memo": len(b"Memo: valve 7 in hall 3 leaks."),
        "备忘录": len("备忘：二号锅炉周五停机检修。".encode()),
        "manual": 200_000,
        "edge": SMALL_FILE_BYTES,  # 64 KiB exactly: small
        "维护手册": len(CHINESE_LARGE.encode()),
        "just-over": SMALL_FILE_BYTES + 1,
        "unknown": None,  # a size nobody gave: not small
    }
    dispatcher.parse_many([QueuedDocument(name, 1, "t", size) for name, size in files.items()])
    small, large = sent(PARSE_SMALL_QUEUE), sent(PARSE_QUEUE)
    # The small files together, in upload order; no large file rides with them.
    assert _ids(small) == [["memo", "备忘录", "edge"]]
    # Each large file alone, so that several parse processes share an upload's large files.
    assert _ids(large) == [["manual"], ["维护手册"], ["just-over"], ["unknown"]]
    assert {task for task, _, _ in small + large} == {PARSE_MANY_TASK}
    # Every message carries the sizes (and tenants), for the retries' routing.
    assert {j.doc_id: j.size_bytes for _, jobs, _ in small + large for j in jobs} == files
    assert {j.tenant_id for _, jobs, _ in small + large for j in jobs} == {"t"}
    # The queue depth the API's /metrics shows: each parse queue on its own.
    depths = broker_depths(redis_url)
    assert depths[(PARSE_SMALL_QUEUE, BROKER)] == 1 and depths[(PARSE_QUEUE, BROKER)] == 4


def test_many_small_files_share_few_messages(dispatcher: CeleryDispatcher, sent: Sent) -> None:
    memos = [QueuedDocument(f"memo-{i}", 1, "t", 40) for i in range(JOBS_PER_MESSAGE + 4)]
    dispatcher.parse_many(memos)
    assert [len(jobs) for _, jobs, _ in sent(PARSE_SMALL_QUEUE)] == [JOBS_PER_MESSAGE, 4]
    assert sent(PARSE_QUEUE) == []


def test_retries_and_hand_backs_keep_their_queue(dispatcher: CeleryDispatcher, sent: Sent) -> None:
    """A retry goes where its first try went (with its countdown), and so does a document the
    embed stage hands back to parsing; the stages need no context for either."""
    runner = IngestionRunner(cast(StageContext, None), dispatcher, RetryPolicy())
    memo = StageJob("memo", 1, 0, "t", 120)
    manual = StageJob("manual", 1, 0, "t", 3_000_000)
    lost = StageJob("lost", 1, 0, "t", None)
    outage = UpstreamUnavailable("database away", component=Component.DATABASE)
    runner.fail_group(Stage.PARSE, [memo, manual, lost], outage)
    small, large = sent(PARSE_SMALL_QUEUE), sent(PARSE_QUEUE)
    assert [(task, jobs, eta) for task, jobs, eta in small] == [
        (PARSE_TASK, [StageJob("memo", 1, 1, "", 120)], True)
    ]
    assert _ids(large) == [["manual"], ["lost"]]
    assert all(task == PARSE_TASK and eta for task, _, eta in large)
    assert [jobs[0].size_bytes for _, jobs, _ in large] == [3_000_000, None]
    sent.clear()
    outcomes = {"memo": Outcome.PARSE_NEXT, "manual": Outcome.PARSE_NEXT}
    runner.settle(Stage.EMBED, [memo, manual], StageReport(outcomes))
    assert _ids(sent(PARSE_SMALL_QUEUE)) == [["memo"]]
    assert _ids(sent(PARSE_QUEUE)) == [["manual"]]


def test_messages_from_before_sizes_travelled_are_served() -> None:
    """A message queued by the previous version (four arguments, no size) is read, and its
    retry goes to the parse queue, which every parse worker serves."""
    old = job_from_args(["doc", 3, 1, "tenant"])
    assert old == StageJob("doc", 3, 1, "tenant", None) and not old.small
    job = StageJob("文档", 2, 0, "t", 512)
    assert job_from_args(job_args(job)) == job and job.small


@pytest.fixture
def world(tmp_path: Path, redis_url: str):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path, redis_url=redis_url, embedding={"batch_size": 4})
    build_sessions(settings, migrate=True)
    container = Container(settings, role="cli")
    with transaction(container.sessions) as s:
        tenant = identity.create_tenant(s, "routing")
        principal = identity.principal_for(identity.create_user(s, tenant.id, "u"))
    runner = IngestionRunner(
        container.stage_context,
        CeleryDispatcher(settings),
        RetryPolicy(),
        parse_each(build_parse_fn(settings)),
    )
    yield runner, principal
    container.close()


def test_a_parse_group_passes_its_sizes_on(world, sent: Sent) -> None:  # type: ignore[no-untyped-def]
    """A message's document and the companions it takes from the database: their sizes go
    on with them to the embed stage's messages, so a hand-back or a retry from there is
    routed as the upload was (Chinese by its bytes)."""
    runner, principal = world
    svc = runner.context
    memo_text = "备忘：二号锅炉周五停机检修。Boiler 2 is down on Friday."
    memo = new_doc(svc, principal, memo_text)
    other = new_doc(svc, principal, "Memo: the boiler in block 2 is due. 三号锅炉到期。")
    size = len(memo_text.encode())
    group = runner.gather(Stage.PARSE, [StageJob(memo, 1, 0, principal.tenant_id, size)])
    sizes = {job.doc_id: job.size_bytes for job in group}
    with svc.sessions() as s:
        assert sizes == {d: doc_queries.get_document(s, d).size_bytes for d in (memo, other)}
    runner.parse(group)
    (embed,) = sent(EMBED_QUEUE)
    assert embed[0] == EMBED_MANY_TASK
    assert {job.doc_id: job.size_bytes for job in embed[1]} == sizes
    runner.settle(Stage.EMBED, embed[1], StageReport(dict.fromkeys(sizes, Outcome.PARSE_NEXT)))
    assert sorted(_ids(sent(PARSE_SMALL_QUEUE))[0]) == sorted(sizes)


def _worker_queues(args: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    from typer.testing import CliRunner

    from core.settings import get_settings
    from zhiku.cli import app
    from zhiku.worker import app as celery

    started: list[list[str]] = []
    monkeypatch.setattr(celery, "worker_main", started.append)
    monkeypatch.setenv("ZHIKU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ZHIKU_REDIS_URL", "redis://127.0.0.1:6379/13")  # never contacted
    monkeypatch.setenv("ZHIKU_EMBEDDING__THREADS", "")  # restored after the command sets it
    monkeypatch.delenv("ZHIKU_EMBEDDING__THREADS")
    try:
        result = CliRunner().invoke(app, ["worker", *args])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    (queues,) = [a for a in started[-1] if a.startswith("--queues=")]
    return queues.removeprefix("--queues=")


def test_which_queues_each_worker_serves(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def serves(*args: str) -> str:
        return _worker_queues(list(args), monkeypatch, tmp_path)

    # A parse worker takes small files too, whenever it has a free process.
    assert serves("--queues", "parse") == f"{PARSE_SMALL_QUEUE},{PARSE_QUEUE},{MAINTENANCE_QUEUE}"
    # The small-file worker: small files alone, not even the clean-up.
    assert serves("--queues", "parse-small") == PARSE_SMALL_QUEUE
    assert serves("--queues", "parse-small", "--autoscale", "2,1") == PARSE_SMALL_QUEUE
    assert serves("--queues", "parse,parse-small,embed") == (
        f"{PARSE_SMALL_QUEUE},{PARSE_QUEUE},{EMBED_QUEUE},{MAINTENANCE_QUEUE}"
    )
    assert serves() == f"{PARSE_SMALL_QUEUE},{PARSE_QUEUE},{EMBED_QUEUE},{MAINTENANCE_QUEUE}"
    from typer.testing import CliRunner

    from zhiku.cli import app

    wrong = CliRunner().invoke(app, ["worker", "--queues", "small"])
    assert wrong.exit_code == 2 and "parse-small" in wrong.output
