"""Answer caps shared by every API process through the real Redis: two limiters (as two
processes would hold) share one cap, a refused take holds nothing, a lease given back frees
its slots, a dead process's lease lapses, and a Redis that does not answer leaves each process
counting its own."""

from __future__ import annotations

import time
import uuid

import pytest

from core.access import Principal
from core.errors import TooManyRequests
from core.settings_llm import AnswerLimits
from core.slots import RedisSlots
from services.answer_limits import AnswerLimiter


def _slots(redis_url: str, prefix: str, ttl: int = 900) -> RedisSlots:
    return RedisSlots(redis_url, prefix=prefix, lease_ttl_s=ttl)


def _principal(user: str, tenant: str = "t1", key: str | None = None) -> Principal:
    return Principal(tenant_id=tenant, user_id=user, key_id=key)


def test_two_processes_share_one_cap(redis_url: str) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    limits = AnswerLimits(per_user=2, per_tenant=3, per_key=1, retry_after_s=5)
    first = AnswerLimiter(limits, _slots(redis_url, prefix))
    second = AnswerLimiter(limits, _slots(redis_url, prefix))
    a = first.acquire(_principal("王芳"))
    b = second.acquire(_principal("王芳"))
    with pytest.raises(TooManyRequests, match="you already have 2 answers") as refused:
        first.acquire(_principal("王芳"))
    assert refused.value.retry_after_s == 5
    c = second.acquire(_principal("bob"))
    # The tenant is full now, in both processes; the refusal held no user slot for carol.
    with pytest.raises(TooManyRequests, match="organisation already has 3"):
        first.acquire(_principal("carol"))
    assert second.running(_principal("x")) == 3
    b.release()
    b.release()  # once only
    assert first.running(_principal("x")) == 2
    first.acquire(_principal("carol"))
    a.release()
    c.release()


def test_a_key_cap_is_checked_first(redis_url: str) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    limiter = AnswerLimiter(
        AnswerLimits(per_key=1, per_user=5, per_tenant=5), _slots(redis_url, prefix)
    )
    limiter.acquire(_principal("bob", key="k1"))
    with pytest.raises(TooManyRequests, match="this API key already has 1"):
        AnswerLimiter(
            AnswerLimits(per_key=1, per_user=5, per_tenant=5), _slots(redis_url, prefix)
        ).acquire(_principal("bob", key="k1"))
    limiter.acquire(_principal("bob", key="k2"))


def test_a_dead_processes_lease_lapses(redis_url: str) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    limits = AnswerLimits(per_user=1, per_tenant=1)
    AnswerLimiter(limits, _slots(redis_url, prefix, ttl=1)).acquire(
        _principal("bob")
    )  # never released
    survivor = AnswerLimiter(limits, _slots(redis_url, prefix, ttl=1))
    with pytest.raises(TooManyRequests):
        survivor.acquire(_principal("bob"))
    time.sleep(1.2)
    survivor.acquire(_principal("bob")).release()


def test_without_redis_each_process_counts_its_own() -> None:
    limiter = AnswerLimiter(
        AnswerLimits(per_user=1, per_tenant=5), RedisSlots("redis://127.0.0.1:1/0")
    )
    lease = limiter.acquire(_principal("bob"))
    with pytest.raises(TooManyRequests):
        limiter.acquire(_principal("bob"))
    lease.release()
    limiter.acquire(_principal("bob"))
