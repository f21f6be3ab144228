"""Counted slots with caps (answers generating at once per tenant, user and key): in this
process, or shared by every API process through Redis.

``take`` either holds one slot of every name or none (the first name whose cap is reached is
reported), so a caller never holds a tenant slot it was refused a user slot for. In Redis each
name is a sorted set of leases scored by when they lapse: a process that dies without giving
its slots back loses them after ``lease_ttl_s`` instead of leaking them for ever. A Redis that
does not answer must not take the chat page down with it: the process's own counts stand in
(caps then hold per process, as before) until it answers again.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

logger = logging.getLogger(__name__)


class SlotCounter(Protocol):
    def take(self, wanted: Sequence[tuple[str, int]]) -> tuple[str | None, int]:
        """``wanted``: (name, cap) pairs. Returns (a lease, -1) when every slot was taken,
        else (None, the index of the first name at its cap)."""
        ...

    def give_back(self, lease: str, names: Sequence[str]) -> None: ...

    def held(self, name: str) -> int: ...


class LocalSlots:
    """Slots of this process; used from the event loop only (no ``await`` inside)."""

    def __init__(self) -> None:
        self._running: Counter[str] = Counter()

    def take(self, wanted: Sequence[tuple[str, int]]) -> tuple[str | None, int]:
        for index, (name, cap) in enumerate(wanted):
            if self._running[name] >= cap:
                return None, index
        for name, _ in wanted:
            self._running[name] += 1
        return uuid.uuid4().hex, -1

    def give_back(self, lease: str, names: Sequence[str]) -> None:
        for name in names:
            self._running[name] -= 1
            if self._running[name] <= 0:
                del self._running[name]

    def held(self, name: str) -> int:
        return self._running[name]


# KEYS: the names; ARGV: now, lapse time, lease, ttl, then one cap per name.
_TAKE = """
for i, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', ARGV[1])
  if redis.call('ZCARD', key) >= tonumber(ARGV[4 + i]) then return i end
end
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, ARGV[2], ARGV[3])
  redis.call('EXPIRE', key, ARGV[4])
end
return 0
"""


class RedisSlots:
    """Slots shared by every process that uses the same Redis and ``prefix``."""

    def __init__(self, url: str, *, prefix: str = "zhiku:slots:", lease_ttl_s: int = 900) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._script = self._redis.register_script(_TAKE)
        self._prefix = prefix
        self._ttl = lease_ttl_s
        self._fallback = LocalSlots()
        self._local_leases: set[str] = set()

    def take(self, wanted: Sequence[tuple[str, int]]) -> tuple[str | None, int]:
        now = time.time()
        lease = uuid.uuid4().hex
        keys = [self._prefix + name for name, _ in wanted]
        args = [now, now + self._ttl, lease, self._ttl, *(cap for _, cap in wanted)]
        try:
            refused = int(self._script(keys=keys, args=args))
        except Exception as exc:  # redis.RedisError, a timeout, a closed socket
            logger.warning("answer slots: Redis did not answer (%s); counting in this process", exc)
            local, index = self._fallback.take(wanted)
            if local is not None:
                self._local_leases.add(local)
            return local, index
        return (lease, -1) if refused == 0 else (None, refused - 1)

    def give_back(self, lease: str, names: Sequence[str]) -> None:
        if lease in self._local_leases:
            self._local_leases.discard(lease)
            self._fallback.give_back(lease, names)
            return
        try:
            pipe = self._redis.pipeline()
            for name in names:
                pipe.zrem(self._prefix + name, lease)
            pipe.execute()
        except Exception as exc:  # the lease lapses by itself after lease_ttl_s
            logger.warning("answer slots: could not give back a lease (%s)", exc)

    def held(self, name: str) -> int:
        try:
            key = self._prefix + name
            self._redis.zremrangebyscore(key, "-inf", time.time())
            return int(self._redis.zcard(key)) + self._fallback.held(name)
        except Exception:
            return self._fallback.held(name)
