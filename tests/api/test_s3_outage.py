"""The embedded default with its files on S3 (moto's server, behind a relay this test cuts):
an upload while the store is away is refused with a retryable 503 and leaves no row; a
document whose stage meets the outage fails with a plain reason, its file kept, and a retry
after the store is back makes it ready."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.access import Principal
from core.blobs import original_key
from core.db import documents as doc_queries
from core.db.models import DocumentStatus
from tests.api.world import World, upload, wait_terminal
from tests.live import ThreadServer
from tests.s3_server import S3Server, TcpProxy
from tests.support import make_settings
from tests.workers.helpers import new_doc

TEXT = "对象存储故障演练。物件儲存故障演練。An object store outage drill for Zhiku."


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ThreadServer, TcpProxy]]:
    with S3Server() as s3:
        proxy = TcpProxy(s3.port).up()
        settings = make_settings(
            Path(tmp_path_factory.mktemp("s3-outage")),
            blobs=s3.settings(url=proxy.url).model_dump(),
            worker={"max_retries": 1, "retry_cap_s": 1},
        )
        try:
            with ThreadServer(settings) as server:
                yield server, proxy
        finally:
            proxy.down()


def _status(server: ThreadServer, doc_id: str, wanted: str, timeout_s: float = 120) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with server.container.sessions() as session:
            doc = doc_queries.get_document(session, doc_id)
            if doc.status == wanted:
                return doc.error or ""
        time.sleep(0.2)
    raise TimeoutError(f"document {doc_id} not {wanted}")


def test_uploads_and_files_go_to_s3(deployment: tuple[ThreadServer, TcpProxy]) -> None:
    server, _ = deployment
    world = World(server)
    with world.client("ann") as ann:
        r = upload(ann, [("drill.txt", TEXT.encode())], access={"everyone": True})
        assert r.status_code == 202, r.text
        doc_id = r.json()["data"][0]["id"]
        assert wait_terminal(ann, doc_id)["status"] == "ready"
        hits = ann.post("/v1/search", json={"query": "物件儲存 故障"}).json()["results"]
        assert hits and hits[0]["document_id"] == doc_id
        assert ann.get(f"/v1/documents/{doc_id}/file").content == TEXT.encode()
    key = original_key(world.tenant_a.id, doc_id, 1)
    assert server.container.blobs.get(key) == TEXT.encode()
    assert not (server.container.settings.blob_path / key).exists()  # not on local disk


def test_an_upload_while_the_store_is_away_is_refused_and_leaves_nothing(
    deployment: tuple[ThreadServer, TcpProxy],
) -> None:
    server, proxy = deployment
    world = World(server)
    proxy.down()
    try:
        with world.client("ann") as ann:
            r = upload(ann, [("away.txt", TEXT.encode())])
            assert r.status_code == 503, r.text
            assert "The file store is unavailable right now" in r.text
            assert r.headers["Retry-After"]  # worth retrying, and when
            zh = ann.post(
                "/v1/documents",
                files=[("files", ("away.txt", TEXT.encode()))],
                headers={"Accept-Language": "zh-CN"},
            )
            assert zh.status_code == 503
            assert "文件存储暂时不可用" in zh.text
    finally:
        proxy.up()
    with world.client("ann") as ann:
        assert ann.get("/v1/documents").json()["data"] == []  # no row without its file


def test_a_stage_that_meets_the_outage_fails_with_a_reason_and_the_file_stays(
    deployment: tuple[ThreadServer, TcpProxy],
) -> None:
    server, proxy = deployment
    world = World(server)
    ann = Principal(tenant_id=world.tenant_a.id, user_id=world.ids["ann"], is_admin=True)
    container = server.container
    doc_id = new_doc(container.stage_context, ann, TEXT)  # stored, not yet queued
    proxy.down()
    try:
        container.dispatcher.parse(doc_id, 1)
        reason = _status(server, doc_id, DocumentStatus.FAILED)
        assert reason == "the file store was unavailable, retried 1 times"
    finally:
        proxy.up()
    assert container.blobs.get(original_key(ann.tenant_id, doc_id, 1)) == TEXT.encode()
    container.services.documents.retry(ann, doc_id)
    assert _status(server, doc_id, DocumentStatus.READY) == ""
