"""Request-rate buckets, in this process and in the real Redis: never more than the budget in
any window (a Hypothesis property, replaying arrival times on both), a refused request charges
no bucket, the wait names when it would pass, and a Redis that does not answer leaves each
process counting its own."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.access import Principal
from core.errors import TooManyRequests
from core.rate_buckets import Bucket, LocalBuckets, RateBuckets, RedisBuckets, retry_after_header
from core.settings_rate_limits import RateLimitSettings, RouteRates
from services.rate_limits import RateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


Factory = Callable[[Clock], RateBuckets]


@pytest.fixture(params=["local", "redis"])
def make(request: pytest.FixtureRequest) -> Factory:
    if request.param == "local":
        return lambda clock: LocalBuckets(clock)
    url = request.getfixturevalue("redis_url")
    return lambda clock: RedisBuckets(url, prefix=f"test:{uuid.uuid4().hex}:", clock=clock)


def assert_within_budget(admitted: list[float], rate: float, burst: int) -> None:
    """In every window [t_i, t_j] the admitted count is at most burst + rate × its length."""
    for i in range(len(admitted)):
        for j in range(i, len(admitted)):
            allowed = burst + rate * (admitted[j] - admitted[i])
            assert j - i + 1 <= allowed + 1e-6, (i, j, admitted[i], admitted[j], allowed)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rate=st.floats(min_value=0.2, max_value=50),
    burst=st.integers(min_value=1, max_value=8),
    gaps=st.lists(st.floats(min_value=0, max_value=2), min_size=1, max_size=80),
)
def test_never_more_than_the_budget_in_any_window(
    make: Factory, rate: float, burst: int, gaps: list[float]
) -> None:
    clock = Clock()
    buckets = make(clock)
    admitted: list[float] = []
    for gap in gaps:
        clock.now += gap
        verdict = buckets.hit([Bucket("k", rate, burst)])
        if verdict.admitted:
            admitted.append(clock.now)
        else:
            # Refused only when full, and the wait is when the next one would pass.
            assert 0 < verdict.retry_after_s <= 1 / rate + 1e-6
    assert_within_budget(admitted, rate, burst)
    # Not stingy either: after a full refill, a whole burst passes at once.
    clock.now += burst / rate + 1
    assert all(buckets.hit([Bucket("k", rate, burst)]).admitted for _ in range(burst))


def test_a_refusal_charges_no_bucket_and_names_the_one_that_refused(make: Factory) -> None:
    clock = Clock()
    buckets = make(clock)
    key_a, key_b = Bucket("key:a", 1.0, 2), Bucket("key:b", 1.0, 5)
    tenant = Bucket("tenant:t", 1.0, 4)
    assert buckets.hit([key_a, tenant]).admitted
    assert buckets.hit([key_a, tenant]).admitted
    refused = buckets.hit([key_a, tenant])
    assert (refused.admitted, refused.refused) == (False, 0)
    assert refused.retry_after_s == pytest.approx(1.0, abs=1e-3)
    # key a's refusal used none of the tenant's budget: key b still gets the two left.
    assert buckets.hit([key_b, tenant]).admitted
    assert buckets.hit([key_b, tenant]).admitted
    over = buckets.hit([key_b, tenant])
    assert (over.admitted, over.refused) == (False, 1)
    clock.now += 1.0  # one request's worth comes back
    assert buckets.hit([key_b, tenant]).admitted


def test_two_processes_share_one_budget_on_redis_time(redis_url: str) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    first, second = RedisBuckets(redis_url, prefix=prefix), RedisBuckets(redis_url, prefix=prefix)
    bucket = Bucket("key:shared", 0.5, 3)  # 30 a minute, 3 at once
    verdicts = [b.hit([bucket]).admitted for b in (first, second, first, second)]
    assert verdicts == [True, True, True, False]
    wait = second.hit([bucket]).retry_after_s
    assert 1.5 < wait <= 2.0
    assert retry_after_header(wait) == 2


def test_redis_that_does_not_answer_counts_in_this_process() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    buckets = RedisBuckets(f"redis://127.0.0.1:{port}/0")
    bucket = Bucket("key:x", 1.0, 2)
    assert buckets.blocking and not LocalBuckets().blocking
    assert [buckets.hit([bucket]).admitted for _ in range(3)] == [True, True, False]
    # Once Redis failed, it is left alone for a while: the checks are this process's, cheap.
    assert not buckets.blocking


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    assert [retry_after_header(w) for w in (0.0, 0.001, 1.0, 1.2, 59.01)] == [1, 1, 1, 2, 60]


def test_the_limiter_counts_a_key_and_its_tenant_and_a_session_as_its_user() -> None:
    clock = Clock()
    rates = RouteRates(per_key_per_minute=60, per_tenant_per_minute=180, burst_seconds=2)
    limiter = RateLimiter(RateLimitSettings(search=rates), LocalBuckets(clock))
    bot = Principal(tenant_id="t1", user_id="ann", key_id="k1")
    web = Principal(tenant_id="t1", user_id="ann")  # a browser session: no key
    other = Principal(tenant_id="t2", user_id="zed", key_id="k9")
    limiter.check(bot, "search")
    limiter.check(bot, "search")
    with pytest.raises(TooManyRequests, match="from this API key: at most 60 a minute") as over:
        limiter.check(bot, "search")
    assert over.value.retry_after_s == 1
    limiter.check(bot, "chat")  # another family, another budget
    limiter.check(web, "search")
    limiter.check(web, "search")
    with pytest.raises(TooManyRequests, match="from your account"):
        limiter.check(web, "search")
    limiter.check(Principal(tenant_id="t1", user_id="bob", key_id="k2"), "search")
    limiter.check(Principal(tenant_id="t1", user_id="bob", key_id="k2"), "search")
    # Tenant t1's burst (two seconds at 180 a minute: six) is spent; t2's is untouched.
    with pytest.raises(TooManyRequests, match="from your organisation: at most 180"):
        limiter.check(Principal(tenant_id="t1", user_id="carol", key_id="k3"), "search")
    limiter.check(other, "search")
    off = RateLimiter(RateLimitSettings(enabled=False, search=rates), LocalBuckets(clock))
    for _ in range(10):
        off.check(bot, "search")
