"""A Qdrant server's part of a backup: a snapshot of the live collection and of the
generation pointer (``index.server_generations``), made by the server (consistent while it
serves), downloaded into ``qdrant/<collection>.snapshot``; restored by uploading each one,
which creates the collection on the target server under its backed-up name.

Only the live generation is kept: a re-index building beside it is not worth a backup (run
it again after the restore).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from core.errors import Component, Conflict, UpstreamUnavailable
from core.settings import Settings


def _client_and_names(settings: Settings) -> tuple[Any, list[str]]:
    from qdrant_client import QdrantClient

    from index.server_generations import live_collection, pointer_collection

    q = settings.qdrant
    client = QdrantClient(url=q.url, api_key=q.api_key or None, timeout=int(q.timeout_s))
    names = [live_collection(client, q.collection)]
    if client.collection_exists(pointer_collection(q.collection)):
        names.append(pointer_collection(q.collection))
    return client, names


def _headers(settings: Settings) -> dict[str, str]:
    return {"api-key": settings.qdrant.api_key} if settings.qdrant.api_key else {}


def snapshot_collections(settings: Settings, target: Path) -> dict[str, Any]:
    from index.qdrant_server import QdrantServerStore

    folder = target / "qdrant"
    folder.mkdir()
    base = settings.qdrant.url.rstrip("/")
    try:
        client, names = _client_and_names(settings)
        store = QdrantServerStore.from_settings(settings.qdrant)
        docs = store.document_ids()
        points = client.count(names[0], exact=True).count
        for name in names:
            snapshot = client.create_snapshot(name, wait=True)
            assert snapshot is not None
            url = f"{base}/collections/{name}/snapshots/{snapshot.name}"
            with httpx.stream("GET", url, headers=_headers(settings), timeout=3600) as response:
                response.raise_for_status()
                with (folder / f"{name}.snapshot").open("wb") as out:
                    for block in response.iter_bytes(1 << 20):
                        out.write(block)
            client.delete_snapshot(name, snapshot.name, wait=True)
    except (httpx.HTTPError, OSError) as exc:
        raise UpstreamUnavailable(
            f"Qdrant snapshot failed: {exc}", component=Component.VECTOR_STORE
        ) from exc
    return {"kind": "server", "collections": names, "documents": len(docs), "points": points}


def recover_collections(settings: Settings, source: Path, index: dict[str, Any]) -> dict[str, Any]:
    client, _ = _client_and_names(settings)
    for name in index["collections"]:
        if client.collection_exists(name) and client.count(name, exact=True).count:
            raise Conflict(f"collection {name} is not empty: restore into an empty deployment")
    base = settings.qdrant.url.rstrip("/")
    try:
        for name in index["collections"]:
            with (source / "qdrant" / f"{name}.snapshot").open("rb") as snapshot:
                response = httpx.post(
                    f"{base}/collections/{name}/snapshots/upload",
                    params={"priority": "snapshot", "wait": "true"},
                    files={"snapshot": (f"{name}.snapshot", snapshot)},
                    headers=_headers(settings),
                    timeout=3600,
                )
            response.raise_for_status()
    except httpx.HTTPError as exc:
        raise UpstreamUnavailable(
            f"Qdrant snapshot upload failed: {exc}", component=Component.VECTOR_STORE
        ) from exc
    points = client.count(index["collections"][0], exact=True).count
    return {"kind": "server", "collections": index["collections"], "points": points}
