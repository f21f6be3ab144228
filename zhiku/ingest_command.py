"""``zhiku ingest``: upload files (in process, or to a running server) and show progress."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from core.access import Principal
from core.db import groups as group_queries
from core.db import identity
from core.db.session import transaction
from core.settings import Settings
from services.documents import DocumentService
from services.schemas.documents import AccessSpec
from services.uploads import IncomingFile
from zhiku.bootstrap import ensure_first_admin
from zhiku.container import Container
from zhiku.database import build_sessions

console = Console(stderr=True)
TERMINAL = {"ready", "failed"}
# A document's bar: parsing counts as the first step, each embedded chunk as one more.
Snapshot = dict[str, dict]
# Files stored per transaction: a folder of thousands goes in as a few hundred commits.
FILES_PER_BATCH = 50


def ingest_local(
    settings: Settings,
    files: list[Path],
    tenant: str,
    user: str,
    everyone: bool,
    groups: list[str],
) -> int:
    ensure_first_admin(settings)
    with transaction(build_sessions(settings, migrate=True)) as session:
        tenant_id = identity.get_tenant_by_name(session, tenant).id
        principal = identity.principal_for(identity.get_user_by_name(session, tenant_id, user))
        group_ids = [group_queries.get_group_by_name(session, tenant_id, g).id for g in groups]
    container = Container(settings, role="cli")
    if container.local is None:
        raise RuntimeError("in-process ingestion needs the embedded mode (no ZHIKU_REDIS_URL)")
    container.start(sweep=False)
    try:
        documents = container.services.documents
        spec = (
            AccessSpec(everyone=everyone, groups=group_ids, users=[principal.user_id])
            if everyone or group_ids
            else None
        )
        tokens = documents.resolve_access(principal, spec)
        ids, rejected = _submit_local(documents, principal, files, tokens)

        def fetch() -> Snapshot:
            return {d.id: d.model_dump() for d in documents.get_many(principal, ids)}

        return _watch(fetch, ids) + rejected
    finally:
        container.close()


def _submit_local(
    documents: DocumentService, principal: Principal, files: list[Path], tokens: list[str]
) -> tuple[list[str], int]:
    ids: list[str] = []
    rejected = 0
    for start in range(0, len(files), FILES_PER_BATCH):
        batch = files[start : start + FILES_PER_BATCH]
        result = documents.upload(
            principal, [IncomingFile(p.name, p.read_bytes()) for p in batch], tokens, []
        )
        ids += [d.id for d in result.data]
        for error in result.errors:
            console.print(f"[red]rejected[/red] {error.filename}: {error.detail}")
            rejected += 1
    return ids, rejected


def ingest_remote(url: str, api_key: str, files: list[Path], everyone: bool = False) -> int:
    headers = {"Authorization": f"Bearer {api_key}"}
    ids: list[str] = []
    rejected = 0
    with httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=120) as client:
        for path in files:
            data = {"access": json.dumps({"everyone": True})} if everyone else {}
            response = client.post(
                "/v1/documents", files={"files": (path.name, path.read_bytes())}, data=data
            )
            body = response.json()
            if response.status_code >= 400:
                console.print(f"[red]rejected[/red] {path}: {body.get('detail')}")
                rejected += 1
                continue
            ids += [d["id"] for d in body["data"]]

        def fetch() -> Snapshot:
            return {i: client.get(f"/v1/documents/{i}").json() for i in ids}

        return _watch(fetch, ids) + rejected


def _watch(fetch: Callable[[], Snapshot], ids: list[str], poll_s: float = 0.5) -> int:
    """Render one bar per document and one overall; return how many failed."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stage]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as progress:
        overall = progress.add_task("[bold]all documents", total=len(ids), stage="")
        bars: dict[str, int] = {}
        while True:
            snapshot = fetch()
            for doc_id, doc in snapshot.items():
                if doc_id not in bars:
                    bars[doc_id] = progress.add_task(doc["filename"][:40], total=None, stage="")
                p = doc["progress"]
                total = p["chunks_total"] + 1 if p["chunks_total"] else None
                done = (p["chunks_done"] + 1) if doc["stage"] in ("embedding", "done") else 0
                if doc["status"] == "ready":
                    done = total = p["chunks_total"] + 1
                stage = doc["status"] if doc["status"] in TERMINAL else doc["stage"]
                progress.update(bars[doc_id], total=total, completed=done, stage=stage)
            finished = [d for d in snapshot.values() if d["status"] in TERMINAL]
            progress.update(overall, completed=len(finished))
            if len(finished) == len(ids):
                break
            time.sleep(poll_s)
    failed = [d for d in snapshot.values() if d["status"] == "failed"]
    for doc in failed:
        console.print(f"[red]failed[/red] {doc['filename']}: {doc['error']}")
    ready = len(ids) - len(failed)
    console.print(f"{ready} ready, {len(failed)} failed")
    return len(failed)
