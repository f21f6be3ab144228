"""Request rates per caller and per tenant on chat, search and upload (``RateLimitSettings``).

``api.limits.RequestGuard`` asks ``RateLimiter.check`` right after authenticating, before a
byte of the body is read, so a flood of uploads is refused for the price of a key lookup.
The caller is its API key (``Principal.key_id``), or its user for a web session; each has its
own bucket, and so does its tenant: one key's flood uses up that key and, at most, its own
tenant's budget, never another tenant's. The buckets live in ``core.rate_buckets``: in this
process on the embedded default, in Redis when one is configured, so that API processes
behind a load balancer share one budget. ``check`` blocks on Redis (``blocking``): the guard
runs it on a worker thread then, and inline on the embedded default.

Concurrent answers are capped apart (``services.answer_limits``): that is how many generate
at once, this is how often requests come.
"""

from __future__ import annotations

from typing import Literal

from core.access import Principal
from core.errors import TooManyRequests
from core.rate_buckets import Bucket, LocalBuckets, RateBuckets, retry_after_header
from core.settings_rate_limits import RateLimitSettings, RouteRates

Family = Literal["search", "chat", "upload"]

# The routes each family counts, as a refusal names them (the paths read the same in Chinese).
ROUTES: dict[Family, str] = {"search": "/v1/search", "chat": "/v1/chat", "upload": "/v1/documents"}


class RateLimiter:
    def __init__(self, settings: RateLimitSettings, buckets: RateBuckets | None = None) -> None:
        self._settings = settings
        self._buckets = buckets or LocalBuckets()

    @property
    def enabled(self) -> bool:
        return self._settings.enabled

    @property
    def blocking(self) -> bool:
        """Whether ``check`` may wait on the network now (Redis): run it off the event loop."""
        return self._buckets.blocking

    def check(self, principal: Principal, family: Family) -> None:
        """Charge one request of ``family`` to the caller and its tenant, or raise
        ``TooManyRequests`` (charging neither) with the seconds until it would pass."""
        if not self._settings.enabled:
            return
        rates: RouteRates = getattr(self._settings, family)
        caller = (
            f"key:{principal.key_id}"
            if principal.key_id is not None
            else f"user:{principal.tenant_id}:{principal.user_id}"
        )
        wanted = [
            (f"{family}:{caller}", rates.per_key_per_minute),
            (f"{family}:tenant:{principal.tenant_id}", rates.per_tenant_per_minute),
        ]
        verdict = self._buckets.hit([Bucket(name, n / 60.0, rates.burst(n)) for name, n in wanted])
        if verdict.admitted:
            return
        n, s, route = (
            wanted[verdict.refused][1],
            retry_after_header(verdict.retry_after_s),
            ROUTES[family],
        )
        if verdict.refused == 1:
            raise TooManyRequests(
                f"too many requests to {route} from your organisation: at most {n} a minute;"
                f" try again in {s} s",
                s,
            )
        if principal.key_id is not None:
            raise TooManyRequests(
                f"too many requests to {route} from this API key: at most {n} a minute;"
                f" try again in {s} s",
                s,
            )
        raise TooManyRequests(
            f"too many requests to {route} from your account: at most {n} a minute;"
            f" try again in {s} s",
            s,
        )
