"""The answering backend's cap: answers beyond what it generates at once plus its short queue
are refused at once (429) with a Retry-After from recent answers' durations, whoever asks; the
count is one process's (LocalSlots) or every process's through the real Redis, and the
embedded server's count is its own process's. Refusals are worded in the question's language
(Simplified, Traditional, English) where the caller did not say theirs."""

from __future__ import annotations

import uuid

import pytest
from starlette.requests import Request

from api.reasons import language_of, localize, note_question
from api.web import i18n
from core.access import Principal
from core.errors import TooManyRequests
from core.settings_llm import AnswerLimits
from core.slots import LocalSlots, RedisSlots, SlotCounter
from llm.runtime import BackendCapacity
from services.answer_limits import RETRY_AFTER_BOUNDS_S, AnswerLimiter, BackendLoad

VLLM = BackendCapacity(backend="vllm", key="vllm", slots=2)
ROOMY = AnswerLimits(per_user=10, per_tenant=10, per_key=10, queue_per_slot=1, retry_after_s=9)


def _principal(user: str, tenant: str) -> Principal:
    return Principal(tenant_id=tenant, user_id=user)


def _limiter(slots: SlotCounter, capacity: BackendCapacity | None = VLLM) -> AnswerLimiter:
    return AnswerLimiter(ROOMY, slots, lambda: capacity)


def _redis(redis_url: str, prefix: str) -> RedisSlots:
    return RedisSlots(redis_url, prefix=prefix)


def test_slots_and_queue_admitted_across_tenants_then_429_at_once() -> None:
    limiter = _limiter(LocalSlots())
    held = [limiter.acquire(_principal(f"u{i}", f"t{i % 3}")) for i in range(4)]  # 2 x (1 + 1)
    assert limiter.backend_load() == [BackendLoad("vllm", 2, 2, 2, 2)]
    with pytest.raises(TooManyRequests) as refused:
        limiter.acquire(_principal("王芳", "t9"))  # a tenant with nothing running
    assert str(refused.value) == (
        "the answer model is busy: 4 answers are being generated or waiting for it; "
        "try again in 9 s"
    )
    assert refused.value.retry_after_s == 9  # the setting: no answer has been timed yet
    assert limiter.running(_principal("王芳", "t9")) == 0  # the refusal held no tenant slot
    held[0].release()
    held[0].release()  # once only
    assert limiter.backend_load() == [BackendLoad("vllm", 2, 1, 2, 2)]
    limiter.acquire(_principal("王芳", "t9")).release()
    for lease in held:
        lease.release()
    assert limiter.backend_load() == [BackendLoad("vllm", 0, 0, 2, 2)]


def test_the_tenant_cap_is_named_before_the_backend_cap() -> None:
    limits = AnswerLimits(per_user=10, per_tenant=1, queue_per_slot=0, retry_after_s=3)
    limiter = AnswerLimiter(limits, LocalSlots(), lambda: BackendCapacity("local", "local", 1))
    held = limiter.acquire(_principal("ann", "t1"))
    with pytest.raises(TooManyRequests, match="organisation already has 1"):
        limiter.acquire(_principal("bob", "t1"))
    with pytest.raises(TooManyRequests, match="the answer model is busy: 1 answers"):
        limiter.acquire(_principal("zed", "t2"))
    held.release()


def test_retry_after_follows_recent_answers_within_bounds() -> None:
    limiter = _limiter(LocalSlots())
    # Four answers held 40 s each: with four admitted, one ends about every 10 s.
    for _ in range(4):
        limiter.durations.add(40.0)
    assert limiter.retry_after_s(limiter.admitted(VLLM)) == 10
    for _ in range(30):
        limiter.durations.add(3_000.0)  # the oldest fall out of the window
    assert limiter.retry_after_s(4) == RETRY_AFTER_BOUNDS_S[1]
    quick = _limiter(LocalSlots())
    quick.durations.add(0.2)
    assert quick.retry_after_s(4) == RETRY_AFTER_BOUNDS_S[0]


def test_an_answered_lease_is_timed_a_failed_one_is_not() -> None:
    limiter = _limiter(LocalSlots())
    limiter.acquire(_principal("ann", "t1")).release()  # failed or cancelled
    assert limiter.durations.mean() is None
    limiter.acquire(_principal("ann", "t1")).release(answered=True)
    mean = limiter.durations.mean()
    assert mean is not None and mean < 5


def test_no_backend_up_means_no_backend_cap() -> None:
    limiter = _limiter(LocalSlots(), capacity=None)
    held = [limiter.acquire(_principal(f"u{i}", f"t{i}")) for i in range(6)]
    assert limiter.backend_load() == []
    for lease in held:
        lease.release()


def test_two_processes_share_a_configured_backend_through_redis(redis_url: str) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    first, second = _limiter(_redis(redis_url, prefix)), _limiter(_redis(redis_url, prefix))
    held = [first.acquire(_principal("ann", "t1")), second.acquire(_principal("bob", "t2"))]
    held += [first.acquire(_principal("陳", "t3")), second.acquire(_principal("zed", "t4"))]
    for limiter in (first, second):
        with pytest.raises(TooManyRequests, match="the answer model is busy: 4 answers"):
            limiter.acquire(_principal("carol", "t5"))
    assert second.backend_load() == [BackendLoad("vllm", 2, 2, 2, 2)]
    held.pop().release()
    first.acquire(_principal("carol", "t5")).release()
    for lease in held:
        lease.release()
    assert first.backend_load() == [BackendLoad("vllm", 0, 0, 2, 2)]


def test_each_process_embedded_server_is_counted_apart_in_redis(redis_url: str) -> None:
    """Each API process starts its own llama.cpp child: its key names the host and process
    (``llm.runtime.AnswerModels.answer_capacity``), so two of them do not share one slot."""
    prefix = f"test:{uuid.uuid4().hex}:"
    mine = BackendCapacity("local", "local@host:1", 1)
    theirs = BackendCapacity("local", "local@host:2", 1)
    one = _limiter(_redis(redis_url, prefix), mine)
    two = _limiter(_redis(redis_url, prefix), theirs)
    held = [one.acquire(_principal("ann", "t1")), one.acquire(_principal("bob", "t1"))]
    with pytest.raises(TooManyRequests, match="busy: 2 answers"):
        one.acquire(_principal("zed", "t2"))
    other = [two.acquire(_principal("zed", "t2")), two.acquire(_principal("陳", "t3"))]
    for lease in held + other:
        lease.release()


def _request(accept_language: str | None = None, cookie: str | None = None) -> Request:
    headers = []
    if accept_language is not None:
        headers.append((b"accept-language", accept_language.encode()))
    if cookie is not None:
        headers.append((b"cookie", f"{i18n.LANGUAGE_COOKIE}={cookie}".encode()))
    return Request({"type": "http", "method": "POST", "path": "/v1/chat", "headers": headers})


BUSY = (
    "the answer model is busy: 2 answers are being generated or waiting for it; try again in 30 s"
)


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("年假有多少天？", "回答模型正忙：已有 2 个回答正在生成或排队等候，请 30 秒后再试"),
        (
            "請問這個月的會議在哪裡舉行？",
            "回答模型正忙：已有 2 個回答正在生成或排隊等候，請 30 秒後再試",
        ),
        ("How many days of annual leave?", BUSY),
    ],
)
def test_the_refusal_is_worded_in_the_question_language(question: str, expected: str) -> None:
    request = _request()
    note_question(request, question)
    assert localize(BUSY, language_of(request)) == expected


def test_a_language_the_caller_states_wins_over_the_question() -> None:
    english = _request(accept_language="en-GB")
    note_question(english, "年假有多少天？")
    assert localize(BUSY, language_of(english)) == BUSY
    chosen = _request(cookie=i18n.TRADITIONAL)
    note_question(chosen, "How many days?")
    assert localize(BUSY, language_of(chosen)).startswith("回答模型正忙")
    assert language_of(_request()) == i18n.ENGLISH  # no question, no statement
