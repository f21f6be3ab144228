"""Caps on answers: how many one tenant, one user and one API key may have generating at once,
and how much history a client may send with a question.

An answer holds a slot of the model for up to minutes on a CPU (the embedded llama.cpp server
answers one request at a time), so one busy caller could otherwise queue every other tenant
behind it. A caller over a cap gets ``TooManyRequests`` (429 with Retry-After) at once instead
of a long wait. The key cap applies to a caller that authenticated with a key
(``Principal.key_id``); one without (a web session) has the user and tenant caps only.

The counts live in ``core.slots``: in this process on the embedded default, in Redis when one
is configured (``redis_url``), so that N API processes behind a load balancer share one cap
instead of N of them. A process that dies loses its Redis leases after ``lease_ttl_s``; a
Redis that stops answering leaves each process counting its own until it answers again.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from core.access import Principal
from core.errors import InvalidInput, TooManyRequests
from core.settings_llm import AnswerLimits
from core.slots import LocalSlots, SlotCounter
from llm.client import Message


class AnswerLease:
    """One answer's slots; ``release`` gives them back (once, however often it is called)."""

    def __init__(self, slots: SlotCounter, lease: str, names: tuple[str, ...]) -> None:
        self._slots = slots
        self._lease: str | None = lease
        self._names = names

    def release(self) -> None:
        lease, self._lease = self._lease, None
        if lease is not None:
            self._slots.give_back(lease, self._names)


class AnswerLimiter:
    """Caps answers in flight per key, per user and per tenant (checked in that order, so the
    refusal names the narrowest cap reached)."""

    def __init__(self, limits: AnswerLimits, slots: SlotCounter | None = None) -> None:
        self._limits = limits
        self._slots = slots or LocalSlots()

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
        lease, refused = self._slots.take([(name, cap) for name, cap, _ in wanted])
        if lease is None:
            raise TooManyRequests(wanted[refused][2], limits.retry_after_s)
        return AnswerLease(self._slots, lease, tuple(name for name, _, _ in wanted))

    def running(self, principal: Principal) -> int:
        """Answers in flight for ``principal``'s tenant (for tests and health)."""
        return self._slots.held(f"tenant:{principal.tenant_id}")


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
