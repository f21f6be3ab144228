"""Which database errors mean "the database is unavailable" rather than "this code is wrong"
(and which mean "the request held a value the database cannot store").

Callers outside ``core.db`` never import SQLAlchemy: the API asks :func:`database_outage`
whether an unexpected error is an outage, and answers a 503 naming the database if so.
"""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from core.errors import Component, Outage, UpstreamUnavailable

# Connection refused or lost, server shutting down, too many connections, statement or lock
# timeouts (the driver's OperationalError family), and a connection pool with none to lend.
UNAVAILABLE_ERRORS: tuple[type[Exception], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
)


# A value the database refuses to store or compare: a NUL byte in text (PostgreSQL), a number
# past its column's range. What the client sent, not an outage or a bug in the query: the API
# answers 400 (``api.errors``), where every field should already have been refused by its bounds.
UNSTORABLE_ERRORS: tuple[type[Exception], ...] = (sa_exc.DataError,)


def database_outage(exc: BaseException) -> UpstreamUnavailable | None:
    """``exc`` as an ``UpstreamUnavailable`` of the database, or None when it is another error.

    The driver's own text (host, port, SQL) stays in the detail, for the log only."""
    if not isinstance(exc, UNAVAILABLE_ERRORS):
        return None
    cause = getattr(exc, "orig", None) or exc
    first_line = (str(cause).strip().splitlines() or [""])[0]
    return UpstreamUnavailable(
        f"database: {type(cause).__name__}: {first_line}"[:500],
        component=Component.DATABASE,
        outage=Outage.DOWN,
    )
