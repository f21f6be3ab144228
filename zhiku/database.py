"""The database part of the composition root, kept apart so that light commands (``zhiku
admin``) start without importing parsers and models."""

from __future__ import annotations

from functools import cache

from core.db.migrate import upgrade
from core.db.session import SessionFactory, make_engine, make_session_factory
from core.settings import Settings


@cache
def _sessions(url: str, pool_size: int, echo: bool) -> SessionFactory:
    return make_session_factory(make_engine(url, pool_size=pool_size, echo=echo))


def build_sessions(settings: Settings, migrate: bool = False) -> SessionFactory:
    # auto_migrate false: one migration job (`zhiku db upgrade`) ran before this process.
    if migrate and settings.database.auto_migrate:
        upgrade(settings.database_url)
    db = settings.database
    return _sessions(settings.database_url, db.pool_size, db.echo)
