"""Every rate family (chat, search, upload) is held to both its budgets, per key and per
tenant, on both counters (this process's, Redis's): the over-budget request is refused with a
Retry-After, in the words of the budget it ran out of, charging neither; another key of the
tenant, or another tenant, goes on. (Over HTTP, tests/api/test_rate_limits.py takes one
combination each; this takes all six without a server.)"""

from __future__ import annotations

import uuid
from typing import get_args

import pytest

from core.access import Principal
from core.errors import TooManyRequests
from core.rate_buckets import LocalBuckets, RateBuckets, RedisBuckets
from core.settings_rate_limits import RateLimitSettings, RouteRates
from services.rate_limits import ROUTES, Family, RateLimiter

SMALL, LARGE = 12, 6000  # a minute; with 15 s of burst, 3 and 1,500 at once


def principal(tenant: str, user: str, key: str) -> Principal:
    return Principal(tenant_id=tenant, user_id=user, key_id=key)


@pytest.fixture(params=["in-process", "redis"])
def buckets(request: pytest.FixtureRequest) -> RateBuckets:
    if request.param == "in-process":
        return LocalBuckets()
    url = request.getfixturevalue("redis_url")
    return RedisBuckets(url, prefix=f"test:{uuid.uuid4().hex}:")


@pytest.mark.parametrize("family", get_args(Family))
@pytest.mark.parametrize("budget", ["key", "tenant"])
def test_each_family_is_held_to_its_key_and_tenant_budgets(
    buckets: RateBuckets, family: Family, budget: str
) -> None:
    key_rate, tenant_rate = (SMALL, LARGE) if budget == "key" else (LARGE, SMALL)
    rates = RouteRates(
        per_key_per_minute=key_rate, per_tenant_per_minute=tenant_rate, burst_seconds=15
    )
    limiter = RateLimiter(RateLimitSettings(**{family: rates}), buckets)
    ann, bob = principal("甲公司", "ann", "k-ann"), principal("甲公司", "bob", "k-bob")
    zed = principal("乙公司", "zed", "k-zed")
    first = ann if budget == "key" else bob  # the tenant's budget: bob's and ann's together
    limiter.check(first, family)
    limiter.check(ann, family)
    limiter.check(ann, family)
    with pytest.raises(TooManyRequests) as refused:
        limiter.check(ann, family)
    assert 1 <= refused.value.retry_after_s <= 5  # a request's worth comes back every 5 s
    whose = "this API key" if budget == "key" else "your organisation"
    assert str(refused.value).startswith(
        f"too many requests to {ROUTES[family]} from {whose}: at most {SMALL} a minute"
    )
    # Another tenant is never held back; another key of the tenant only by the tenant's.
    limiter.check(zed, family)
    if budget == "key":
        limiter.check(bob, family)
    else:
        with pytest.raises(TooManyRequests):
            limiter.check(bob, family)
    # The other families are counted apart.
    for other in get_args(Family):
        if other != family:
            limiter.check(ann, other)
