"""The answer model's backend refuses, stalls, or answers garbage, over real HTTP.

One Zhiku server, configured once with one backend address; the fault behind that address
changes from case to case (``tests.faults.sockets``). Each time: /v1/chat answers with a
plain error within the backend's configured timeouts (never a hang, never a 500), the server
stays up and serves the next request, and the failed answer is in the audit trail with its
reason, streamed or not.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from core.db import identity
from core.db import keys as key_queries
from core.db.session import transaction
from core.errors import UpstreamUnavailable
from core.settings_llm import LlmBackendSettings, LlmSettings
from llm.routing import LlmRouter
from tests.api.test_upstream_errors import assert_plain_503
from tests.api.world import World, upload, wait_terminal
from tests.faults.sockets import (
    EVENT_NOT_JSON,
    HTML_PAGE,
    NOT_JSON,
    REFUSE,
    STALL,
    TRUNCATED_EVENTS,
    FaultyBackend,
    http_reply,
)
from tests.live import ThreadServer
from tests.support import make_settings

READ_TIMEOUT_S = 1.0
RETRIES = 1
BACKENDS = ("primary", "secondary")
# Every attempt on every backend may wait out the read timeout; the rest (retrieval, backoff,
# a loaded machine) gets a generous margin. Past this the request hung.
ANSWER_BOUND_S = len(BACKENDS) * (RETRIES + 1) * READ_TIMEOUT_S + 8.0

TEXT = "埃特纳火山在1669年喷发，熔岩到达了尼科洛西。Etna erupted in 1669, reaching Nicolosi."
QUESTIONS = ["埃特纳火山什么时候喷发？", "When did Etna erupt?"]

# Each fault: what the primary and the secondary backend do, and the words the audit record
# must give as each one's reason (None: that backend is not tried).
FAULTS: dict[str, tuple[str | bytes, str | bytes, str, str | None]] = {
    "refused": (REFUSE, REFUSE, "primary: connection failed", "secondary: connection failed"),
    "stalled": (STALL, STALL, "primary: timed out", "secondary: timed out"),
    "json-that-is-html": (NOT_JSON, NOT_JSON, "primary: malformed", "secondary: malformed"),
    "html-page": (HTML_PAGE, HTML_PAGE, "primary: malformed", "secondary: malformed"),
    "event-not-json": (
        EVENT_NOT_JSON,
        EVENT_NOT_JSON,
        "primary: malformed",
        "secondary: malformed",
    ),
    "garbage-then-stall": (NOT_JSON, STALL, "primary: malformed", "secondary: timed out"),
    # Part of the answer was streamed: too late to hand over to the secondary.
    "stream-cut-mid-answer": (TRUNCATED_EVENTS, REFUSE, "'primary' failed after", None),
}


def flaky(name: str, backend: FaultyBackend) -> LlmBackendSettings:
    return LlmBackendSettings(
        name=name,
        base_url=backend.base_url,
        model="any",
        connect_timeout_s=1.0,
        read_timeout_s=READ_TIMEOUT_S,
        max_retries=RETRIES,
        retry_backoff_s=0.05,
    )


@pytest.fixture(scope="module")
def faulty() -> Iterator[tuple[FaultyBackend, FaultyBackend]]:
    with FaultyBackend() as primary, FaultyBackend() as secondary:
        yield primary, secondary


@pytest.fixture(scope="module")
def served(pg_url, faulty, tmp_path_factory) -> Iterator[tuple[World, str]]:  # type: ignore[no-untyped-def]
    """One server, its two answer backends (in failover order) behind the faulty ports."""
    backends = [flaky(name, b) for name, b in zip(BACKENDS, faulty, strict=True)]
    settings = make_settings(
        tmp_path_factory.mktemp("llm-faults"),
        database={"url": pg_url},
        llm={"backends": backends, "local": {"enabled": False}},
    )
    with ThreadServer(settings) as srv:
        world = World(srv)
        with transaction(srv.container.sessions) as s:
            auditor = identity.create_user(s, world.tenant_a.id, "审计员", is_auditor=True)
            key = key_queries.issue_api_key(s, auditor, settings.secret_key).plaintext
        with world.client("bob") as bob:
            r = upload(bob, [("etna.txt", TEXT.encode())])
            assert wait_terminal(bob, r.json()["data"][0]["id"])["status"] == "ready"
        yield world, key


def audit_errors(world: World, key: str) -> dict[str, dict]:
    with httpx.Client(
        base_url=world.url, headers={"Authorization": f"Bearer {key}"}, timeout=30
    ) as auditor:
        records = auditor.get("/v1/audit/answers", params={"limit": 200}).json()["data"]
    return {r["id"]: r for r in records}


def sse_events(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
        if "event" in lines:
            events.append((lines["event"], json.loads(lines.get("data", "{}"))))
    return events


@pytest.mark.parametrize("fault", list(FAULTS))
def test_a_broken_backend_is_a_clear_error_in_time_and_audited(  # type: ignore[no-untyped-def]
    served, faulty, fault: str
) -> None:
    world, auditor_key = served
    primary, secondary = faulty
    first_mode, second_mode, first_reason, second_reason = FAULTS[fault]
    primary.set(first_mode)
    secondary.set(second_mode)
    tried = (primary.requests, secondary.requests)
    before = audit_errors(world, auditor_key)
    with world.client("bob") as bob:
        for question in QUESTIONS:
            for stream in (False, True):
                started = time.monotonic()
                r = bob.post("/v1/chat", json={"message": question, "stream": stream})
                took = time.monotonic() - started
                assert took < ANSWER_BOUND_S, (fault, stream, took)
                if r.status_code == 200 and stream:
                    # Part of the answer was sent before the backend failed: the stream
                    # ends with an error event, not a "done".
                    names = [name for name, _ in sse_events(r.text)]
                    assert second_reason is None, r.text
                    assert names[-1] == "error" and "done" not in names, names
                    continue
                # No language sent: worded in the question's.
                words = "answer model" if question.isascii() else "回答模型"
                assert_plain_503(r, words, primary.port, secondary.port)
        # The service is still up and still answers what needs no model.
        assert bob.get("/health/live").status_code == 200
        assert bob.post("/v1/search", json={"query": QUESTIONS[0]}).status_code == 200
    records = audit_errors(world, auditor_key).items()
    new = [r for i, r in records if i not in before and r["endpoint"] == "chat"]
    assert len(new) == len(QUESTIONS) * 2, new
    for record in new:
        assert record["outcome"] == "error", record
        assert first_reason in record["error"], record["error"]
        assert second_reason is None or second_reason in record["error"], record["error"]
        assert record["question"] in QUESTIONS and record["answer"] is None
    # Every attempt reached the backend; none is retried once text was streamed.
    calls = len(QUESTIONS) * 2 * (RETRIES + 1 if second_reason is not None else 1)
    if first_mode != REFUSE:
        assert primary.requests - tried[0] == calls, primary.requests
    if second_reason is not None and second_mode != REFUSE:
        assert secondary.requests - tried[1] == calls, secondary.requests


@pytest.mark.parametrize(
    "reply",
    [
        NOT_JSON,
        HTML_PAGE,
        http_reply("application/json", b'{"object": "chat.completion"}'),
        http_reply("application/json", b'{"choices": []}'),
    ],
    ids=["not-json", "html", "no-choices-field", "empty-choices"],
)
def test_a_garbage_completion_is_a_backend_failure_not_a_crash(reply: bytes) -> None:
    """The whole-answer path (question rewriting uses it): garbage is retried, then reported
    as this backend being unavailable, so the caller falls back instead of failing with 500."""

    async def ask(router: LlmRouter) -> None:
        try:
            await router.complete("rewrite", [{"role": "user", "content": "上一个问题呢？"}])
        finally:
            await router.aclose()

    with FaultyBackend(reply) as backend:
        router = LlmRouter.from_settings(LlmSettings(backends=[flaky("junk", backend)]))
        with pytest.raises(UpstreamUnavailable, match=r"junk: malformed reply"):
            asyncio.run(ask(router))
        assert backend.requests == RETRIES + 1
