"""A moment column that is UTC and zone-aware on every database.

SQLite has no time-zone type: SQLAlchemy's ``DateTime(timezone=True)`` writes an aware value's
wall clock with its zone dropped and reads it back naive. On the embedded default every moment
read from a row was therefore served without a zone ("2026-12-03T16:12:34", which a browser's
``new Date()`` and most clients take as local time: eight hours off in Beijing) while one
just written kept its ``Z``, and a filter given in another zone (an audit ``since`` of
``…T23:00+08:00``) was compared by its wall clock, as if it were UTC. This type writes every
moment as UTC and reads every moment back as aware UTC, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class UtcDateTime(TypeDecorator[datetime]):
    """``DateTime(timezone=True)`` (the same column in the schema) whose values are aware UTC
    both ways; a naive value bound to it is taken as UTC, as the code base writes them."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
