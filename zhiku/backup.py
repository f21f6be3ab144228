"""``zhiku admin backup <dir>`` and ``zhiku admin restore <dir>``.

A backup is a folder: the database (``zhiku.backup_parts``), the vector index, every stored
file under ``blobs/``, the embedded default's ``secret-key`` (API keys are hashed with it: a
restore without it would refuse every key), and ``manifest.json`` (versions, counts, and the
SHA-256 of every file), written last: a folder without one is an interrupted backup.

A restore checks every checksum before it writes anything, refuses a deployment that is not
empty (a restore never merges), then restores the database, the index and the files,
migrates the schema up to this version's, and compares the counts with the manifest.

The embedded default is backed up offline (``zhiku serve`` stopped: its index folder opens in
one process). With a Qdrant server, ``zhiku.backup_server`` takes snapshots through its API.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from core.errors import Conflict, InvalidInput
from core.settings import Settings
from core.settings_secret import SECRET_KEY_FILE
from zhiku import backup_parts as parts

MANIFEST = "manifest.json"
FORMAT = 1
Echo = Callable[[str], None]


def backup(settings: Settings, target: Path, echo: Echo = lambda _: None) -> dict[str, Any]:
    """Write a backup of this deployment into ``target`` (a new or empty folder)."""
    from zhiku.components import build_blob_store

    if target.exists() and any(target.iterdir()):
        raise Conflict(f"{target} is not empty: back up into a new folder")
    target.mkdir(parents=True, exist_ok=True)
    echo("database…")
    counts = parts.database_counts(settings)
    database_file = parts.dump_database(settings, target)
    echo("vector index…")
    index = _backup_index(settings, target)
    echo("files…")
    blobs = parts.copy_blobs(build_blob_store(settings), target, echo)
    secret = settings.data_dir / SECRET_KEY_FILE
    if secret.is_file():
        shutil.copy2(secret, target / SECRET_KEY_FILE)
    manifest = {
        "format": FORMAT,
        "versions": _versions(),
        "created_at": datetime.now(UTC).isoformat(),
        "database": {"kind": parts.database_kind(settings), "file": database_file, **counts},
        "index": index,
        "blobs": blobs,
        "files": _checksums(target),
    }
    (target / MANIFEST).write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    echo(
        f"backed up {counts.get('documents', 0)} documents, {index.get('points', 0)} vectors,"
        f" {blobs['count']} files into {target}"
    )
    return manifest


def restore(settings: Settings, source: Path, echo: Echo = lambda _: None) -> dict[str, Any]:
    """Restore the backup in ``source`` into this (empty) deployment; returns the manifest."""
    from core.db.migrate import upgrade
    from zhiku.components import build_blob_store

    manifest = verify(source)
    database = manifest["database"]
    if database["kind"] != parts.database_kind(settings):
        raise InvalidInput(
            f"this backup holds a {database['kind']} database; this deployment uses"
            f" {parts.database_kind(settings)}"
        )
    blobs = build_blob_store(settings)
    # Every check before the first write: a refused restore leaves nothing half done.
    parts.require_empty_database(settings)
    if next(iter(blobs.list()), None) is not None:
        raise Conflict("the file store is not empty: restore into an empty deployment")
    with parts.embedded_index_held(settings):
        echo("database…")
        parts.restore_database(settings, source, database["file"])
        upgrade(settings.database_url)
        echo("vector index…")
        index = _restore_index(settings, source, manifest["index"])
    if not settings.qdrant.url:
        index = parts.embedded_index_counts(settings)  # opened once the lock is ours no more
    echo("files…")
    files = parts.restore_blobs(blobs, source, echo)
    if (source / SECRET_KEY_FILE).is_file() and not _secret_from_environment(settings):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source / SECRET_KEY_FILE, settings.data_dir / SECRET_KEY_FILE)
    counts = parts.database_counts(settings)
    _same("documents", database.get("documents", 0), counts.get("documents", 0))
    _same("vectors", manifest["index"].get("points"), index.get("points"))
    _same("files", manifest["blobs"]["count"], files["count"])
    echo(
        f"restored {counts.get('documents', 0)} documents, {index.get('points', 0)} vectors,"
        f" {files['count']} files from {source}"
    )
    return manifest


def verify(source: Path) -> dict[str, Any]:
    """The manifest, once every file it lists has its size and checksum; InvalidInput if not."""
    path = source / MANIFEST
    if not path.is_file():
        raise InvalidInput(f"{source} has no {MANIFEST}: not a backup, or an interrupted one")
    manifest = json.loads(path.read_text())
    if manifest.get("format") != FORMAT:
        raise InvalidInput(f"backup format {manifest.get('format')} is not {FORMAT}")
    found = _checksums(source)
    for name, expected in manifest["files"].items():
        if found.get(name) != expected:
            raise InvalidInput(f"backup file {name} is missing or damaged (checksum differs)")
    return manifest


def _backup_index(settings: Settings, target: Path) -> dict[str, Any]:
    if settings.qdrant.url:
        from zhiku.backup_server import snapshot_collections

        return snapshot_collections(settings, target)
    return parts.copy_embedded_index(settings, target)


def _restore_index(settings: Settings, source: Path, index: dict[str, Any]) -> dict[str, Any]:
    if (index["kind"] == "server") != bool(settings.qdrant.url):
        raise InvalidInput(
            f"this backup holds a {index['kind']} index; configure the same kind to restore it"
        )
    if settings.qdrant.url:
        from zhiku.backup_server import recover_collections

        return recover_collections(settings, source, index)
    parts.copy_embedded_index_back(settings, source)
    return {}


def _checksums(folder: Path) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.rglob("*")):
        name = path.relative_to(folder).as_posix()
        if not path.is_file() or name == MANIFEST:
            continue
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        out[name] = {"sha256": digest.hexdigest(), "size": path.stat().st_size}
    return out


def _same(what: str, expected: Any, found: Any) -> None:
    if expected != found:
        raise RuntimeError(f"restored {found} {what}, the backup's manifest says {expected}")


def _secret_from_environment(settings: Settings) -> bool:
    """True when the key is configured (ZHIKU_SECRET_KEY), not kept in the data folder."""
    secret = settings.data_dir / SECRET_KEY_FILE
    return not secret.is_file() or secret.read_text().strip() != settings.secret_key


def _versions() -> dict[str, str]:
    """What wrote the backup: Zhiku and the engines whose files it holds."""
    found = {}
    for name in ("zhiku", "qdrant-edge-py", "qdrant-client", "sqlalchemy"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "unknown"
    return found
