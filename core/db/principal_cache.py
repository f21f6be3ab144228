"""Who a token belongs to, remembered for a moment: the caller of an API key or a session
cookie, so that a client's next requests within ``web.principal_cache_s`` skip the SQL of
authentication (key row, user, groups).

Safety rules, each tested (tests/core/test_principal_cache.py):

- An entry is found only by the SHA-256 of the very token that resolved it: another token
  (another user, another tenant) can never be answered with it. Refusals are never kept.
- Any change this process makes to who may do what (a key revoked, rotated or issued, a user
  disabled or their roles or groups changed, a session ended, a tenant removed) forgets every
  entry of every cache in the process, at flush and again at commit: the SQLAlchemy session
  hooks below see every ORM write and every bulk statement on the identity tables, whichever
  service or command made it. A lookup that started before such a change is not kept either
  (a generation number is taken before the SQL and checked when storing).
- Another process's change (the command line, another API replica) is seen once the entry
  ages out: at most ``ttl_s`` later.
- An entry never outlives its key's or session's own expiry.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction
from sqlalchemy.sql.elements import TextClause

from core.db.keys import aware
from core.db.models import utcnow

T = TypeVar("T")

# The tables whose rows decide who a token's caller is and what they may reach.
IDENTITY_TABLES = frozenset(
    {"tenants", "users", "groups", "memberships", "api_keys", "web_sessions", "oidc_identities"}
)
# Moved forward by authentication itself (to the minute): not a change of who may do what.
_BOOKKEEPING = frozenset({"last_used_at", "last_seen_at"})
_CHANGED = "zhiku.identity_changed"
# Enough for every live key of a large deployment; past it the cache starts afresh.
MAX_ENTRIES = 10_000

_lock = threading.Lock()
_generation = 0


def generation() -> int:
    """The current generation: an entry stored under an older one is never served."""
    return _generation


def forget_all() -> None:
    """Every cached caller of every cache in this process is forgotten."""
    global _generation
    with _lock:
        _generation += 1


@dataclass(frozen=True)
class _Entry(Generic[T]):
    value: T
    generation: int
    fresh_until: float  # time.monotonic()
    valid_until: datetime | None  # the key's or session's own expiry


class PrincipalCache(Generic[T]):
    """Token -> caller for ``ttl_s`` seconds (0: off)."""

    def __init__(self, ttl_s: float) -> None:
        self.ttl_s = ttl_s
        self._entries: dict[bytes, _Entry[T]] = {}

    @staticmethod
    def _key(token: str) -> bytes:
        return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()

    def get(self, token: str) -> T | None:
        if self.ttl_s <= 0:
            return None
        key = self._key(token)
        entry = self._entries.get(key)
        if entry is None:
            return None
        if (
            entry.generation != _generation
            or time.monotonic() >= entry.fresh_until
            or (entry.valid_until is not None and utcnow() >= entry.valid_until)
        ):
            self._entries.pop(key, None)
            return None
        return entry.value

    def put(self, token: str, value: T, since: int, valid_until: datetime | None) -> None:
        """Keep ``value``, looked up from generation ``since`` on, unless anything changed
        since then."""
        if self.ttl_s <= 0 or since != _generation:
            return
        if len(self._entries) >= MAX_ENTRIES:
            self._entries.clear()
        fresh_until = time.monotonic() + self.ttl_s
        self._entries[self._key(token)] = _Entry(value, since, fresh_until, valid_until)

    def clear(self) -> None:
        self._entries.clear()


# --- seeing this process's changes


def _changes_identity(obj: Any, *, dirty: bool) -> bool:
    table = getattr(obj, "__tablename__", None)
    if table not in IDENTITY_TABLES:
        return False
    if not dirty:
        return True
    for attr in inspect(obj).attrs:
        history = attr.history
        if history.has_changes() and not (
            attr.key in _BOOKKEEPING and _moved_forward(history.deleted, history.added)
        ):
            return True
    return False


def _moved_forward(before: Sequence[Any], after: Sequence[Any]) -> bool:
    """A last-use stamp set or moved on, as authentication does. Moved back (by hand, as a
    test of the idle timeout does), the change may end a session: it counts."""
    if len(after) != 1 or after[0] is None:
        return False
    old = before[0] if before else None
    return old is None or bool(aware(after[0]) >= aware(old))


def _mark(session: Session) -> None:
    session.info[_CHANGED] = True
    forget_all()


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context: UOWTransaction, _instances: object) -> None:
    if any(_changes_identity(o, dirty=False) for o in (*session.new, *session.deleted)) or any(
        _changes_identity(o, dirty=True) for o in session.dirty
    ):
        _mark(session)


@event.listens_for(Session, "do_orm_execute")
def _on_execute(state: ORMExecuteState) -> None:
    if state.is_select:
        return
    statement = state.statement
    if isinstance(statement, TextClause):
        # Raw SQL: only a plain read is known not to change anyone.
        if not statement.text.lstrip().lower().startswith(("select", "with", "pragma", "show")):
            _mark(state.session)
        return
    table = getattr(statement, "table", None)
    if getattr(table, "name", None) in IDENTITY_TABLES or table is None:
        _mark(state.session)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    # Again once committed: a lookup between the flush and the commit read the old rows.
    if session.info.pop(_CHANGED, False):
        forget_all()


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _previous: object) -> None:
    session.info.pop(_CHANGED, None)
