"""Caps on answers: how many one tenant, one user and one API key may have generating at once,
how many the answer backend can take, and how much history a client may send with a question.

An answer holds a slot of the model for up to minutes on a CPU (the embedded llama.cpp server
answers one request at a time), so one busy caller could otherwise queue every other tenant
behind it. A caller over a cap gets ``TooManyRequests`` (429 with Retry-After) at once instead
of a long wait. The key cap applies to a caller that authenticated with a key
(``Principal.key_id``); one without (a web session) has the user and tenant caps only.

The backend cap is what the answering backend can serve (``llm.runtime.BackendCapacity``: one
answer at a time for the embedded server, ``max_concurrent`` for a configured one) plus a
short queue (``queue_per_slot`` per slot), so the model never idles between two answers and
nobody waits behind more than that queue (issue 14: with only the tenant cap, four admitted
answers queued 50-65 s for their first token on the embedded model). Its refusal says when to
try again: the time between two answers ending, from the recent answers' durations (Little's
law: the admitted answers over their mean time held), within ``RETRY_AFTER_BOUNDS_S``.

A follow-up's question rewrite (``services.question_rewrite``) runs inside its answer's lease,
before the answer is generated and never beside it: it takes no slot of its own, so an
admitted answer is never refused half-way, and one lease never has two requests at the model.

The counts live in ``core.slots``: in this process on the embedded default, in Redis when one
is configured (``redis_url``), so that N API processes behind a load balancer share one cap
instead of N of them. A process that dies loses its Redis leases after ``lease_ttl_s``; a
Redis that stops answering leaves each process counting its own until it answers again.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import NamedTuple

from core import metrics
from core.access import Principal
from core.errors import InvalidInput, TooManyRequests
from core.settings_llm import AnswerLimits
from core.slots import LocalSlots, SlotCounter
from llm.client import Message
from llm.runtime import BackendCapacity

# A refusal's Retry-After: at least a second, and never so long that a client gives up on a
# model that frees a slot every minute or so.
RETRY_AFTER_BOUNDS_S = (1, 120)
# Answers whose durations the estimate reads: enough to smooth one long answer out, few
# enough to follow a machine that gets busier.
TIMED_ANSWERS = 20


class BackendLoad(NamedTuple):
    """Answers at the answering backend now (across processes where the counts are shared):
    those it generates (up to ``slots``), those waiting for it (up to ``queue``)."""

    backend: str
    generating: int
    waiting: int
    slots: int
    queue: int


class AnswerDurations:
    """How long recent answers held their slots (this process's answers, in seconds)."""

    def __init__(self, size: int = TIMED_ANSWERS) -> None:
        self._seconds: deque[float] = deque(maxlen=size)
        self._lock = threading.Lock()

    def add(self, seconds: float) -> None:
        with self._lock:
            self._seconds.append(seconds)

    def mean(self) -> float | None:
        with self._lock:
            return sum(self._seconds) / len(self._seconds) if self._seconds else None


class AnswerLease:
    """One answer's slots; ``release`` gives them back (once, however often it is called)."""

    def __init__(
        self, slots: SlotCounter, lease: str, names: tuple[str, ...], durations: AnswerDurations
    ) -> None:
        self._slots = slots
        self._lease: str | None = lease
        self._names = names
        self._durations = durations
        self._started = time.monotonic()

    def release(self, answered: bool = False) -> None:
        """``answered``: the answer ran to its end, and its time held counts in the estimate
        of the next refusal's Retry-After (a failure's or a cancellation's would not)."""
        lease, self._lease = self._lease, None
        if lease is not None:
            self._slots.give_back(lease, self._names)
            if answered:
                self._durations.add(time.monotonic() - self._started)


class AnswerLimiter:
    """Caps answers in flight per key, per user and per tenant (checked in that order, so the
    refusal names the narrowest cap reached), then at the answering backend."""

    def __init__(
        self,
        limits: AnswerLimits,
        slots: SlotCounter | None = None,
        capacity: Callable[[], BackendCapacity | None] | None = None,
    ) -> None:
        """``capacity``: the answering backend now (None while none is up: no backend cap)."""
        self._limits = limits
        self._slots = slots or LocalSlots()
        self._capacity = capacity or (lambda: None)
        self.durations = AnswerDurations()

    def acquire(self, principal: Principal) -> AnswerLease:
        limits = self._limits
        tenant = f"tenant:{principal.tenant_id}"
        user = f"user:{principal.tenant_id}:{principal.user_id}"
        wanted: list[tuple[str, int, str]] = []
        if principal.key_id is not None:
            wanted.append(
                (
                    f"key:{principal.key_id}",
                    limits.per_key,
                    f"this API key already has {limits.per_key} answers being generated; "
                    "wait for one to finish",
                )
            )
        wanted.append(
            (
                user,
                limits.per_user,
                f"you already have {limits.per_user} answers being generated; "
                "wait for one to finish",
            )
        )
        wanted.append(
            (
                tenant,
                limits.per_tenant,
                f"your organisation already has {limits.per_tenant} answers being generated; "
                "try again shortly",
            )
        )
        backend = self._capacity()
        if backend is not None:
            admitted = self.admitted(backend)
            wanted.append((backend_slot(backend), admitted, ""))
        lease, refused = self._slots.take([(name, cap) for name, cap, _ in wanted])
        if lease is None:
            if backend is not None and refused == len(wanted) - 1:
                metrics.LLM_ANSWERS_REFUSED.labels(backend.backend).inc()
                wait = self.retry_after_s(admitted)
                raise TooManyRequests(
                    f"the answer model is busy: {admitted} answers are being generated or "
                    f"waiting for it; try again in {wait} s",
                    wait,
                )
            raise TooManyRequests(wanted[refused][2], limits.retry_after_s)
        names = tuple(name for name, _, _ in wanted)
        return AnswerLease(self._slots, lease, names, self.durations)

    def admitted(self, backend: BackendCapacity) -> int:
        """Answers the backend takes at once: its slots and their queue."""
        return backend.slots * (1 + self._limits.queue_per_slot)

    def retry_after_s(self, admitted: int) -> int:
        """Seconds until a slot is likely free: with every admitted answer in, one ends about
        every (mean time held) / (answers admitted); the setting before any was timed."""
        mean = self.durations.mean()
        if mean is None:
            return self._limits.retry_after_s
        low, high = RETRY_AFTER_BOUNDS_S
        return min(high, max(low, math.ceil(mean / max(admitted, 1))))

    def running(self, principal: Principal) -> int:
        """Answers in flight for ``principal``'s tenant (for tests and health)."""
        return self._slots.held(f"tenant:{principal.tenant_id}")

    def backend_load(self) -> list[BackendLoad]:
        """The answering backend's answers now (``/metrics``); empty while none is up."""
        backend = self._capacity()
        if backend is None:
            return []
        held = self._slots.held(backend_slot(backend))
        queue = self.admitted(backend) - backend.slots
        return [
            BackendLoad(
                backend.backend, min(held, backend.slots), max(0, held - backend.slots),
                backend.slots, queue,
            )
        ]  # fmt: skip


def backend_slot(backend: BackendCapacity) -> str:
    return f"backend:{backend.key}"


def check_history(history: Sequence[Message], limits: AnswerLimits) -> None:
    """Refuse a history longer than the caps (a client's, on /v1/chat/completions)."""
    if len(history) > limits.max_history_messages:
        raise InvalidInput(
            f"the conversation has {len(history)} earlier messages "
            f"(limit {limits.max_history_messages}): send only the recent ones"
        )
    characters = sum(len(m["content"]) for m in history)
    if characters > limits.max_history_chars:
        raise InvalidInput(
            f"the earlier messages hold {characters:,} characters "
            f"(limit {limits.max_history_chars:,}): send only the recent ones"
        )


def trim_history(
    turns: Sequence[Message], count_tokens: Callable[[str], int], budget_tokens: int
) -> list[Message]:
    """The most recent turns that fit ``budget_tokens``, oldest first; the oldest one kept
    may be cut to its end (the part nearest the question). What the rewriter reads must fit
    the model's context beside the prompt, whatever the client sent."""
    kept: list[Message] = []
    left = budget_tokens
    for turn in reversed(turns):
        cost = count_tokens(turn["content"])
        if cost <= left:
            kept.append(turn)
            left -= cost
            continue
        if left >= 16:  # a useful tail of the turn still fits
            kept.append(
                {"role": turn["role"], "content": _tail(turn["content"], left, count_tokens)}
            )
        break
    kept.reverse()
    return kept


def _tail(text: str, tokens: int, count_tokens: Callable[[str], int]) -> str:
    """The longest suffix of ``text`` within ``tokens`` (binary search on its start)."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high) // 2
        if count_tokens("… " + text[middle:]) <= tokens:
            high = middle
        else:
            low = middle + 1
    return "… " + text[low:]
