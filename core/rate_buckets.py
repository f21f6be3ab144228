"""Request rates with bursts (a token bucket, kept as GCRA): in this process, or shared by
every API process through Redis.

A bucket admits ``rate`` requests a second on average and up to ``burst`` at once. GCRA keeps
one number per bucket, the "theoretical arrival time" (TAT): when the bucket would be full
again. A request is admitted when, after adding its cost (``1 / rate`` seconds), the TAT is at
most ``burst / rate`` seconds ahead of now; so in any window of ``w`` seconds at most
``burst + rate * w`` requests are admitted (``tests/core/test_rate_buckets.py`` checks it).

``hit`` checks several buckets (the caller's key and its tenant) and admits the request only
when every one has room, charging all of them or none: a key refused by its own bucket does
not use up its tenant's. In Redis this is one Lua script, on Redis's own clock (so API
processes whose clocks differ share one budget). A Redis that does not answer must not refuse
everyone, nor hold every request up: this process's own buckets stand in, and Redis is asked
again only after ``REDIS_RETRY_S``, so an outage costs one timeout every few seconds rather
than one per request. A Redis check blocks (a socket round trip): ``blocking`` tells the
caller to run it off the event loop (``api.rate_limits``); this process's buckets never block.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Bucket:
    """One budget: ``name`` (which caller and route), ``rate`` per second, ``burst`` at once."""

    name: str
    rate: float
    burst: int


@dataclass(frozen=True)
class Verdict:
    """Admitted, or refused by ``wanted[refused]`` with the seconds until it has room."""

    admitted: bool
    refused: int = -1
    retry_after_s: float = 0.0


ADMIT = Verdict(True)
_SLACK_S = 1e-9
# After Redis failed to answer, how long this process counts alone before asking it again.
REDIS_RETRY_S = 5.0


class RateBuckets(Protocol):
    @property
    def blocking(self) -> bool:
        """Whether ``hit`` may wait on the network now: call it off the event loop."""
        ...

    def hit(self, wanted: Sequence[Bucket]) -> Verdict: ...


def _check(tat: float, now: float, bucket: Bucket) -> tuple[float, float]:
    """(the bucket's TAT after this request, seconds to wait; 0: admitted)."""
    interval = 1.0 / bucket.rate
    new_tat = max(tat, now) + interval
    wait = new_tat - now - bucket.burst * interval
    # A nanosecond's slack: a bucket exactly full must not be refused by a rounding error.
    return new_tat, wait if wait > _SLACK_S else 0.0


class LocalBuckets:
    """Buckets of this process. ``clock``: seconds, monotonic (tests pass their own)."""

    blocking = False  # a dict and a lock: cheap enough for the event loop

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._tat: dict[str, float] = {}
        self._lock = threading.Lock()  # the guard runs on the loop, tests and fallbacks not
        self._swept = clock()

    def hit(self, wanted: Sequence[Bucket]) -> Verdict:
        with self._lock:
            now = self._clock()
            updates: list[float] = []
            for index, bucket in enumerate(wanted):
                new_tat, wait = _check(self._tat.get(bucket.name, now), now, bucket)
                if wait > 0:
                    return Verdict(False, index, wait)
                updates.append(new_tat)
            for bucket, new_tat in zip(wanted, updates, strict=True):
                self._tat[bucket.name] = new_tat
            self._sweep(now)
            return ADMIT

    def _sweep(self, now: float) -> None:
        # A full bucket (its TAT past) holds nothing worth keeping: forget it, so a flood of
        # one-off keys cannot grow the table for ever.
        if now - self._swept < 60 or len(self._tat) < 1024:
            return
        self._swept = now
        self._tat = {name: tat for name, tat in self._tat.items() if tat > now}


# KEYS: the buckets; ARGV: the time ('' for Redis's own), then per bucket its interval (s)
# and burst. Returns {0} when admitted, else {index (1-based), wait in microseconds}.
_HIT = """
local now = tonumber(ARGV[1])
if now == nil then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local news = {}
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', key) or '0')
  if tat < now then tat = now end
  local new_tat = tat + interval
  local wait = new_tat - now - burst * interval
  if wait > 1e-9 then return {i, math.ceil(wait * 1000000)} end
  news[i] = new_tat
end
for i, key in ipairs(KEYS) do
  local ttl = math.ceil((news[i] - now) * 1000) + 1000
  redis.call('SET', key, string.format('%.17g', news[i]), 'PX', ttl)
end
return {0}
"""


class RedisBuckets:
    """Buckets shared by every process that uses the same Redis and ``prefix``. ``clock``:
    None (production) for Redis's own; tests pass theirs to replay arrival times.
    ``timeout_s``: how long one check waits on Redis (connecting, then answering) before
    this process counts alone."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "zhiku:rate:",
        clock: Callable[[], float] | None = None,
        timeout_s: float = 0.5,
    ) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        # No retries, whatever the client's default: each would add a timeout (and a backoff)
        # to a request waiting on a Redis that does not answer.
        self._redis = redis.Redis.from_url(
            url,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        self._script = self._redis.register_script(_HIT)
        self._prefix = prefix
        self._clock = clock
        self._fallback = LocalBuckets()
        self._down_until = 0.0  # time.monotonic(); until then Redis is not asked

    @property
    def blocking(self) -> bool:
        """False while Redis is left alone after an outage: then ``hit`` counts here."""
        return time.monotonic() >= self._down_until

    def hit(self, wanted: Sequence[Bucket]) -> Verdict:
        if not self.blocking:
            return self._fallback.hit(wanted)
        keys = [self._prefix + bucket.name for bucket in wanted]
        args: list[float | str] = [self._clock() if self._clock is not None else ""]
        for bucket in wanted:
            args += [1.0 / bucket.rate, bucket.burst]
        try:
            reply = self._script(keys=keys, args=args)
        except Exception as exc:  # redis.RedisError, a timeout, a closed socket
            self._down_until = time.monotonic() + REDIS_RETRY_S
            logger.warning(
                "rate limits: Redis did not answer (%s); counting in this process for %.0f s",
                exc,
                REDIS_RETRY_S,
            )
            return self._fallback.hit(wanted)
        if int(reply[0]) == 0:
            return ADMIT
        return Verdict(False, int(reply[0]) - 1, int(reply[1]) / 1_000_000)


def retry_after_header(wait_s: float) -> int:
    """Whole seconds for ``Retry-After``: rounded up (never advise too early), at least 1."""
    return max(1, math.ceil(wait_s - 1e-9))
