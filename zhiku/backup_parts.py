"""The parts of a backup (``zhiku.backup``): the database, the vector index, the files.

Database: SQLite through its online backup API (a consistent copy even while it is used);
PostgreSQL through ``pg_dump``/``pg_restore`` (custom format, no owners: restorable under
another role). Index: the embedded engine's folder, copied under its folder lock (so no
process writes it meanwhile; a running ``zhiku serve`` holds it: stop it first); a Qdrant
server's collections through its snapshot API. Files: every object, through the blob store's
own protocol, so a backup of a local folder restores into S3 and back.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import make_url

from core.blobs import BlobStore
from core.errors import Conflict
from core.settings import Settings
from index.embedded_folder_lock import LOCK_FILE, FolderLock

Echo = Callable[[str], None]


# --- database -------------------------------------------------------------------------------


def database_kind(settings: Settings) -> str:
    return (
        "sqlite" if make_url(settings.database_url).get_backend_name() == "sqlite" else "postgresql"
    )


def _sqlite_path(settings: Settings) -> Path:
    return Path(make_url(settings.database_url).database or "")


def _libpq_url(settings: Settings) -> str:
    """The SQLAlchemy URL as libpq reads it (no ``+driver``)."""
    url = make_url(settings.database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def dump_database(settings: Settings, target: Path) -> str:
    """The database into ``target`` (a folder); returns the file's name."""
    if database_kind(settings) == "sqlite":
        name = "database.sqlite3"
        source = sqlite3.connect(_sqlite_path(settings))
        copy = sqlite3.connect(target / name)
        try:
            source.backup(copy)
        finally:
            copy.close()
            source.close()
        return name
    name = "database.pgdump"
    _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges",
          f"--file={target / name}", f"--dbname={_libpq_url(settings)}"])  # fmt: skip
    return name


def database_counts(settings: Settings) -> dict[str, Any]:
    """Rows per main table and the schema revision, for the manifest and the restore check."""
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            tables = set(inspect(conn).get_table_names())
            counts: dict[str, Any] = {
                table: conn.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("tenants", "users", "documents", "api_keys")
                if table in tables
            }
            if "alembic_version" in tables:
                counts["revision"] = conn.execute(
                    text("SELECT version_num FROM alembic_version")
                ).scalar_one_or_none()
            return counts
    finally:
        engine.dispose()


def require_empty_database(settings: Settings) -> None:
    counts = database_counts(settings)
    if counts.get("tenants") or counts.get("documents"):
        raise Conflict(
            f"the database already holds {counts.get('tenants', 0)} tenants and"
            f" {counts.get('documents', 0)} documents: restore into an empty deployment"
        )


def restore_database(settings: Settings, source: Path, name: str) -> None:
    if database_kind(settings) == "sqlite":
        path = _sqlite_path(settings)
        path.parent.mkdir(parents=True, exist_ok=True)
        backup = sqlite3.connect(source / name)
        target = sqlite3.connect(path)
        try:
            backup.backup(target)  # replaces every page of the (empty) target
        finally:
            target.close()
            backup.close()
        return
    # --clean: a fresh database that a start already migrated has the tables, empty.
    _run(["pg_restore", "--no-owner", "--no-privileges", "--clean", "--if-exists",
          "--exit-on-error", f"--dbname={_libpq_url(settings)}", str(source / name)])  # fmt: skip


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=3600, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{command[0]} failed ({done.returncode}): {done.stderr.strip()[:2000]}")


# --- vector index ---------------------------------------------------------------------------


def copy_embedded_index(settings: Settings, target: Path) -> dict[str, Any]:
    """The embedded index's folder (every collection and generation), under its lock."""
    from index.qdrant_embedded import EmbeddedQdrantStore
    from index.store import Scope

    store = EmbeddedQdrantStore.from_settings(settings.qdrant, settings.qdrant_path)
    try:
        docs = store.document_ids()
        tenants = {tenant for tenant, _ in docs}
        points = sum(store.count(Scope.admin(tenant)) for tenant in tenants)
        # The open store holds the lock and writes nothing: the copy is consistent.
        shutil.copytree(
            settings.qdrant_path, target / "qdrant", ignore=shutil.ignore_patterns(LOCK_FILE)
        )
    finally:
        store.close()
    return {"kind": "embedded", "documents": len(docs), "points": points}


@contextmanager
def embedded_index_held(settings: Settings) -> Iterator[None]:
    """The embedded index's folder lock for the whole restore (a running ``zhiku serve``
    holds it: the restore is refused before it writes anything); nothing with a server."""
    if settings.qdrant.url:
        yield
        return
    path = settings.qdrant_path
    if path.exists() and any(p.name != LOCK_FILE for p in path.rglob("*") if p.is_file()):
        raise Conflict(f"the vector index at {path} is not empty: restore into an empty deployment")
    lock = FolderLock(path / settings.qdrant.collection)
    try:
        yield
    finally:
        lock.release()


def copy_embedded_index_back(settings: Settings, source: Path) -> None:
    """The backed-up folder into place (under ``embedded_index_held``)."""
    shutil.copytree(
        source / "qdrant",
        settings.qdrant_path,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(LOCK_FILE),
    )


def embedded_index_counts(settings: Settings) -> dict[str, Any]:
    from index.qdrant_embedded import EmbeddedQdrantStore
    from index.store import Scope

    with EmbeddedQdrantStore.from_settings(settings.qdrant, settings.qdrant_path) as store:
        docs = store.document_ids()
        points = sum(store.count(Scope.admin(t)) for t in {t for t, _ in docs})
    return {"kind": "embedded", "documents": len(docs), "points": points}


# --- files ----------------------------------------------------------------------------------


def copy_blobs(blobs: BlobStore, target: Path, echo: Echo) -> dict[str, int]:
    count = size = 0
    for info in blobs.list():
        path = target / "blobs" / info.key
        path.parent.mkdir(parents=True, exist_ok=True)
        data = blobs.get(info.key)
        path.write_bytes(data)
        count, size = count + 1, size + len(data)
        if count % 1000 == 0:
            echo(f"files: {count} copied")
    return {"count": count, "bytes": size}


def restore_blobs(blobs: BlobStore, source: Path, echo: Echo) -> dict[str, int]:
    if next(iter(blobs.list()), None) is not None:
        raise Conflict("the file store is not empty: restore into an empty deployment")
    root = source / "blobs"
    count = size = 0
    for path in sorted(root.rglob("*")) if root.is_dir() else []:
        if path.is_file():
            data = path.read_bytes()
            blobs.put(path.relative_to(root).as_posix(), data)
            count, size = count + 1, size + len(data)
            if count % 1000 == 0:
                echo(f"files: {count} restored")
    return {"count": count, "bytes": size}
