"""Fixtures of the database tests: each module runs on PostgreSQL and on SQLite."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from core.db.migrate import upgrade
from core.db.session import SessionFactory, make_engine, make_session_factory


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def db_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """A migrated database of the module's own kind. Only the PostgreSQL cases ask for
    ``pg_url``: the SQLite ones run without a server. Pool of 20: the group-commit tests hold
    many connections at once."""
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'z.sqlite3'}"
    upgrade(url)
    engine = make_engine(url, pool_size=20)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def sessions(db_engine: Engine) -> SessionFactory:
    return make_session_factory(db_engine)
