"""A unique constraint broken by a write, turned into the caller's ``Conflict``; and the same
for a constraint broken by a concurrent request where no write expected it."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from core.errors import Conflict


def flush_or_conflict(session: Session, message: str) -> None:
    """Flush in a savepoint; a broken unique constraint is ``Conflict(message)`` and leaves
    the rest of the transaction usable."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise Conflict(message) from exc


# A check-then-write that lost a race with another request (two adding the same member, one
# adding to a group another is deleting) breaks a unique or foreign key constraint at the
# database: the caller's conflict (409, worth retrying), not a bug. A NOT NULL or CHECK
# violation stays what it is, a bug (500).
CONCURRENT_CHANGE = "another request changed the same records at the same time: try again"
CONSTRAINT_ERRORS: tuple[type[Exception], ...] = (IntegrityError,)
_RACE_STATES = frozenset({"23505", "23503"})  # PostgreSQL: unique_violation, foreign_key_violation
_RACE_WORDS = ("UNIQUE constraint failed", "FOREIGN KEY constraint failed")  # SQLite


def concurrent_conflict(exc: BaseException) -> Conflict | None:
    """``exc`` as the caller's ``Conflict`` when it is a constraint a concurrent request
    broke (unique, foreign key); None for any other error."""
    if not isinstance(exc, IntegrityError):
        return None
    cause = exc.orig
    if getattr(cause, "sqlstate", None) in _RACE_STATES or any(
        words in str(cause) for words in _RACE_WORDS
    ):
        return Conflict(CONCURRENT_CHANGE)
    return None
