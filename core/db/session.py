"""Engines and sessions. SQLite (embedded default) and PostgreSQL (production) behave alike here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.orm import Session, sessionmaker

# AnyIO's worker threads (40) each may hold a connection, with the ingestion threads beside.
SQLITE_POOL_SIZE = 48


def make_engine(url: str, pool_size: int = 5, echo: bool = False) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Connections kept open, not opened and closed under load: a connection past the
        # pool's size is closed when handed back, and opening one runs the PRAGMAs below
        # (journal_mode takes a lock). Under 64 clients that churn showed in the profile
        # (docs/benchmarks.md, search under load). A SQLite connection costs a file handle.
        engine = create_engine(
            url,
            echo=echo,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=max(pool_size, SQLITE_POOL_SIZE),
            max_overflow=SQLITE_POOL_SIZE,
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(conn, _record) -> None:  # type: ignore[no-untyped-def]
            # WAL lets the API read while the in-process worker writes progress.
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # Safe with WAL (no corruption on a crash; at worst the last commits are lost on
            # power failure) and an fsync less per commit: progress is written often.
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True
    )


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session whose work commits on success and rolls back on any error."""
    with factory() as session, session.begin():
        yield session


@contextmanager
def connection(factory: sessionmaker[Session]) -> Iterator[Connection]:
    """A plain connection of the factory's engine, for a read on every request: no Session
    to build and close (measured on PostgreSQL: 0.5 against 0.8 ms for a ten-row lookup)."""
    engine = factory.kw["bind"]
    with engine.connect() as conn:
        yield conn


def ping(factory: sessionmaker[Session]) -> None:
    """Raise when the database does not answer."""
    with factory() as session:
        session.execute(text("SELECT 1"))


# What callers outside the database package hold: they never import SQLAlchemy themselves.
SessionFactory = sessionmaker[Session]
