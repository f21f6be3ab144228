"""A unique constraint broken by a write, turned into the caller's ``Conflict``."""

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
