"""Caps on answers: how many one tenant, one user and one API key may have generating at once,
and how much history a client may send with a question.

An answer holds a slot of the model for up to minutes on a CPU (the embedded llama.cpp server
answers one request at a time), so one busy caller could otherwise queue every other tenant
behind it. A caller over a cap gets ``TooManyRequests`` (429 with Retry-After) at once instead
of a long wait. The key cap applies to a caller that authenticated with a key
(``Principal.key_id``); one without (a web session) has the user and tenant caps only.

The counts live in this process. With N API processes behind a load balancer each enforces
its own caps, so a tenant may have up to N × ``per_tenant`` answers generating at once (and
likewise per user and per key): set the caps per process as the share of the model servers'
capacity one process may take, or run one API process per model server. A process that dies
takes its counts with it, so no slot is ever leaked across a restart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from core.access import Principal
from core.errors import InvalidInput, TooManyRequests
from core.settings import AnswerLimits
from llm.client import Message


class AnswerLease:
    """One answer's slots; ``release`` gives them back (once, however often it is called)."""

    def __init__(self, limiter: AnswerLimiter, keys: tuple[str, ...]) -> None:
        self._limiter = limiter
        self._keys: tuple[str, ...] | None = keys

    def release(self) -> None:
        keys, self._keys = self._keys, None
        if keys is not None:
            self._limiter._release(keys)


class AnswerLimiter:
    """Counts answers in flight per tenant, per user and per key. Used from the event loop
    only: the check and the count happen with no ``await`` between them, so no lock is
    needed."""

    def __init__(self, limits: AnswerLimits) -> None:
        self._limits = limits
        self._running: Counter[str] = Counter()

    def acquire(self, principal: Principal) -> AnswerLease:
        tenant = f"tenant:{principal.tenant_id}"
        user = f"user:{principal.tenant_id}:{principal.user_id}"
        key = f"key:{principal.key_id}" if principal.key_id is not None else None
        limits = self._limits
        if key is not None and self._running[key] >= limits.per_key:
            raise TooManyRequests(
                f"this API key already has {limits.per_key} answers being generated; "
                "wait for one to finish",
                limits.retry_after_s,
            )
        if self._running[user] >= limits.per_user:
            raise TooManyRequests(
                f"you already have {limits.per_user} answers being generated; "
                "wait for one to finish",
                limits.retry_after_s,
            )
        if self._running[tenant] >= limits.per_tenant:
            raise TooManyRequests(
                f"your organisation already has {limits.per_tenant} answers being generated; "
                "try again shortly",
                limits.retry_after_s,
            )
        held = (user, tenant) if key is None else (key, user, tenant)
        for name in held:
            self._running[name] += 1
        return AnswerLease(self, held)

    def running(self, principal: Principal) -> int:
        """Answers in flight for ``principal``'s tenant (for tests and health)."""
        return self._running[f"tenant:{principal.tenant_id}"]

    def _release(self, keys: tuple[str, ...]) -> None:
        for key in keys:
            self._running[key] -= 1
            if self._running[key] <= 0:
                del self._running[key]


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
