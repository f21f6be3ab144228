"""``zhiku admin backup`` / ``restore``: a deployment backed up, restored into an empty one,
answers the same searches over real HTTP with the same keys; a damaged backup and a deployment
that is not empty are refused. The embedded default (SQLite, embedded engine, local folder),
and PostgreSQL with its files on S3."""

from __future__ import annotations

import json
import shutil
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from typer.testing import CliRunner

from core.errors import Conflict, InvalidInput, UpstreamUnavailable
from core.settings import Settings
from index.qdrant_embedded import EmbeddedQdrantStore
from tests.api.world import World, seeded_world
from tests.live import ThreadServer
from tests.s3_server import S3Server
from tests.support import PG_ADMIN_URL, make_settings
from zhiku import backup_parts as parts
from zhiku.backup import MANIFEST, backup, restore, verify

DOCS = {
    "volcano.txt": "Volcanoes\n\nMount Etna in Sicily erupts often. Lava flows from its craters "
    "reached the town of Nicolosi in 1886, and ash closes Catania airport several times a year.",
    "tea.txt": "绿茶的制作\n\n龙井茶产于杭州西湖一带，采摘后经过杀青、揉捻和干燥。"
    "明前茶在清明节之前采摘。",
    "kb.txt": "知識庫的備份\n\n每天凌晨備份資料庫、向量索引與原始檔案，並在另一台機器上演練還原。",
}
PRIVATE = ("budget.txt", "Project Nightjar budget: forty million euros for the 2027 launch.")
QUERIES = ["Etna lava Nicolosi", "龙井茶 采摘", "知識庫 備份 還原", "Nightjar budget", "火山"]


def _answers(url: str, world: World) -> dict[str, list[tuple[str, str, int, float]]]:
    """Every query's hits for ann (who also reads her private file) and bob."""
    out = {}
    for who in ("ann", "bob"):
        with httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {world.keys[who]}"}, timeout=60
        ) as client:
            for query in QUERIES:
                response = client.post("/v1/search", json={"query": query, "limit": 5})
                assert response.status_code == 200, response.text
                out[f"{who}:{query}"] = [
                    (hit["document_id"], hit["filename"], hit["position"], round(hit["score"], 4))
                    for hit in response.json()["results"]
                ]
    return out


def _round_trip(source: Settings, target: Settings, folder: Path) -> None:
    with ThreadServer(source) as server:
        world = seeded_world(server, {n: t for n, t in DOCS.items()}, PRIVATE)
        before = _answers(server.url, world)
    assert any(hit[1] == PRIVATE[0] for hit in before["ann:Nightjar budget"])
    assert all(hit[1] != PRIVATE[0] for hit in before["bob:Nightjar budget"])
    assert before["ann:龙井茶 采摘"][0][1] == "tea.txt"

    manifest = backup(source, folder)
    assert manifest["database"]["documents"] == 4
    assert manifest["versions"]["qdrant-edge-py"] != "unknown"
    assert manifest["blobs"]["count"] >= 8  # each document's original and its chunk list
    assert manifest["index"]["documents"] == 4 and manifest["index"]["points"] >= 4

    restored = restore(target, folder)
    assert restored["files"] == manifest["files"]
    with ThreadServer(target) as server:
        after = _answers(server.url, world)
        doc_id = world.doc_ids["tea.txt"]  # type: ignore[attr-defined]
        original = httpx.get(
            f"{server.url}/v1/documents/{doc_id}/file",
            headers={"Authorization": f"Bearer {world.keys['ann']}"},
        )
    assert after == before
    assert original.status_code == 200, original.text  # the original, byte for byte
    assert original.content == DOCS["tea.txt"].encode()

    # A second restore into the now populated deployment is refused, before any write.
    with pytest.raises(Conflict):
        restore(target, folder)


def test_embedded_default_round_trip_and_damaged_backups(tmp_path: Path) -> None:
    """Two real deployments each start a model and ingest: this test is long (about a
    minute on a loaded 2-core machine), so the refusals share its backup."""
    source, folder = make_settings(tmp_path / "a"), tmp_path / "backup"
    _round_trip(source, make_settings(tmp_path / "b"), folder)
    names = set(json.loads((folder / MANIFEST).read_text())["files"])
    assert "database.sqlite3" in names
    assert any(name.startswith("qdrant/") for name in names)

    with pytest.raises(Conflict):
        backup(source, folder)  # never over an earlier backup
    damaged = tmp_path / "damaged"
    shutil.copytree(folder, damaged)
    blob = next(p for p in (damaged / "blobs").rglob("original"))
    blob.write_bytes(blob.read_bytes() + b"!")
    with pytest.raises(InvalidInput, match="checksum"):
        verify(damaged)
    with pytest.raises(InvalidInput, match="checksum"):
        restore(make_settings(tmp_path / "c"), damaged)
    assert not (tmp_path / "c" / "qdrant").exists()  # refused before any write
    # A deployment whose server runs (it holds the index folder) is refused before any write.
    running = make_settings(tmp_path / "running")
    held = EmbeddedQdrantStore.from_settings(running.qdrant, running.qdrant_path)
    with held, pytest.raises(UpstreamUnavailable, match="open in another process"):
        restore(running, folder)
    assert parts.database_counts(running).get("tenants", 0) == 0
    (damaged / MANIFEST).unlink()
    # The command line says why, and exits non-zero.
    from zhiku.cli import app

    env = {"ZHIKU_DATA_DIR": str(tmp_path / "c"), "ZHIKU_ENVIRONMENT": "test"}
    result = CliRunner().invoke(app, ["admin", "restore", str(damaged)], env=env)
    assert result.exit_code == 1
    assert "no manifest.json" in result.output


@pytest.fixture
def fresh_databases() -> Iterator[Callable[[], str]]:
    """Databases of this test's own on the real server (the session's is shared by other
    tests, so its counts are not this test's), dropped after."""
    names: list[str] = []

    def create() -> str:
        names.append(f"zhiku_restore_{uuid.uuid4().hex[:10]}")
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{names[-1]}"')
        return f"{PG_ADMIN_URL.rsplit('/', 1)[0]}/{names[-1]}"

    yield create
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_postgresql_and_s3_round_trip(tmp_path: Path, fresh_databases: Callable[[], str]) -> None:
    """From a PostgreSQL deployment with local files to a fresh database with files on S3."""
    with S3Server() as s3:
        source = make_settings(tmp_path / "a", database={"url": fresh_databases()})
        target = make_settings(
            tmp_path / "b", database={"url": fresh_databases()}, blobs=s3.settings().model_dump()
        )
        _round_trip(source, target, tmp_path / "backup")
        names = json.loads((tmp_path / "backup" / MANIFEST).read_text())["files"]
        assert "database.pgdump" in names
