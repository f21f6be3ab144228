"""One contract for both blob stores: the local folder and S3 (a real S3-compatible server,
moto's, in its own process over HTTP). Then what only S3 has: a server that goes away."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from core import blobs
from core.blobs import BlobStore, LocalBlobStore, chunks_key, document_prefix, original_key
from core.blobs_s3 import S3BlobStore
from core.errors import Component, NotFound, UpstreamUnavailable
from tests.s3_server import S3Server
from tests.support import make_settings
from workers.retry import Fail, Retry, RetryPolicy
from zhiku.container import build_blob_store

TEXT = "知识库 — 知識庫 — knowledge base\n".encode()


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with S3Server() as server:
        yield server


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    if request.param == "local":
        return LocalBlobStore(tmp_path / "blobs")
    server: S3Server = request.getfixturevalue("s3")
    # Parts of 5 MiB (S3's least), so the big-object test goes through a multipart upload.
    return S3BlobStore.from_settings(server.settings(prefix="deploy-1", multipart_mib=5))


def test_put_get_exists_overwrite(store: BlobStore) -> None:
    key = original_key("t1", "d1", 1)
    assert not store.exists(key)
    store.put(key, TEXT)
    assert store.exists(key)
    assert store.get(key) == TEXT
    store.put(key, b"second")
    assert store.get(key) == b"second"
    assert store.get(key) != TEXT


def test_missing_is_not_found(store: BlobStore) -> None:
    with pytest.raises(NotFound):
        store.get(original_key("t1", "nope", 1))


@pytest.mark.parametrize(
    "key", ["../etc/passwd", "/abs", "t1/../../x", "", "t1//d", "t1/.hidden", "t1/d 1", "中文/d"]
)
def test_only_our_keys(store: BlobStore, key: str) -> None:
    with pytest.raises(ValueError):
        store.put(key, b"x")
    with pytest.raises(ValueError):
        store.get(key)


def test_delete_prefix_takes_the_document_and_spares_its_neighbours(store: BlobStore) -> None:
    for doc in ("d1", "d10"):
        store.put(original_key("t1", doc, 1), TEXT)
        store.put(chunks_key("t1", doc, 1), b"[]")
        store.put(original_key("t1", doc, 2), TEXT)
    store.put(original_key("t2", "d1", 1), TEXT)
    store.delete_prefix(document_prefix("t1", "d1"))
    assert not store.exists(original_key("t1", "d1", 1))
    assert not store.exists(original_key("t1", "d1", 2))
    assert store.exists(original_key("t1", "d10", 1))
    assert store.exists(original_key("t2", "d1", 1))
    store.delete_prefix(document_prefix("t1", "gone"))  # nothing there: no error
    # One version only (what the embed stage does with older versions).
    store.delete_prefix("t1/d10/v1")
    assert not store.exists(chunks_key("t1", "d10", 1))
    assert store.exists(original_key("t1", "d10", 2))


def test_a_local_delete_beside_another_deleter_and_a_late_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An API delete and a parse run that lost its claim both remove a document's files:
    what the other removed after it was listed is skipped, and a folder written into after
    it was listed is left (its writer removes it). It raised FileNotFoundError, a 500 on
    DELETE /v1/documents/{id} whose delete had been committed."""
    store = LocalBlobStore(tmp_path / "blobs")
    for key in (
        original_key("t1", "d1", 1),
        chunks_key("t1", "d1", 1),
        original_key("t1", "d1", 2),
    ):
        store.put(key, b"x")
    real_unlink = Path.unlink
    raced = []

    def racing_unlink(path: Path, missing_ok: bool = False) -> None:
        if not raced:  # after this deleter listed the files, before its first removal:
            raced.append(path)
            shutil.rmtree(store.root / "t1/d1/v1")  # the other deleter takes version 1
            store.put("t1/d1/v2/chunks.late", b"y")  # and a late writer adds to version 2
        real_unlink(path, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", racing_unlink)
    store.delete_prefix(document_prefix("t1", "d1"))
    monkeypatch.setattr(Path, "unlink", real_unlink)
    assert raced, "the race was not staged"
    # The late file is gone too when its folder was walked after it came, else left.
    assert [b.key for b in store.list("t1/d1")] in ([], ["t1/d1/v2/chunks.late"])
    store.delete_prefix(document_prefix("t1", "d1"))  # the writer's own clean-up
    assert not store.exists("t1/d1/v2/chunks.late") and list(store.list("t1")) == []


def test_list_names_every_object_with_size_and_age(store: BlobStore) -> None:
    before = datetime.now(UTC) - timedelta(minutes=5)
    store.put(original_key("t1", "d1", 1), TEXT)
    store.put(chunks_key("t1", "d1", 1), b"[1]")
    store.put(original_key("t1", "d10", 1), b"x")
    store.put(original_key("t2", "d3", 1), b"yy")
    everything = {info.key: info for info in store.list()}
    assert set(everything) == {
        "t1/d1/v1/original",
        "t1/d1/v1/chunks.json",
        "t1/d10/v1/original",
        "t2/d3/v1/original",
    }
    assert everything["t1/d1/v1/original"].size == len(TEXT)
    assert all(before < info.modified <= datetime.now(UTC) + timedelta(minutes=5)
               for info in everything.values())  # fmt: skip
    assert {info.key for info in store.list("t1/d1")} == {
        "t1/d1/v1/original",
        "t1/d1/v1/chunks.json",
    }
    assert {info.key for info in store.list("t2")} == {"t2/d3/v1/original"}


def test_big_object_round_trip(store: BlobStore) -> None:
    data = os.urandom(12 * 1024 * 1024 + 7)  # over two 5 MiB parts and a remainder
    key = original_key("t1", "big", 1)
    store.put(key, data)
    assert store.get(key) == data
    assert [info.size for info in store.list("t1/big")] == [len(data)]


def test_the_composition_root_picks_the_store(tmp_path: Path, s3: S3Server) -> None:
    local = build_blob_store(make_settings(tmp_path, blob_dir=str(tmp_path / "elsewhere")))
    assert isinstance(local, LocalBlobStore) and local.root == tmp_path / "elsewhere"
    remote = build_blob_store(make_settings(tmp_path, blobs=s3.settings().model_dump()))
    assert isinstance(remote, S3BlobStore)
    remote.put("t/d/v1/original", TEXT)
    assert remote.get("t/d/v1/original") == TEXT


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from core.settings import Settings

    monkeypatch.setenv("ZHIKU_BLOBS__BACKEND", "s3")
    monkeypatch.setenv("ZHIKU_BLOBS__BUCKET", "zhiku-files")
    monkeypatch.setenv("ZHIKU_BLOBS__ENDPOINT_URL", "http://127.0.0.1:9000")
    settings = Settings(environment="test", data_dir=tmp_path)
    assert (settings.blobs.backend, settings.blobs.bucket) == ("s3", "zhiku-files")
    monkeypatch.delenv("ZHIKU_BLOBS__BUCKET")
    with pytest.raises(ValueError, match="ZHIKU_BLOBS__BUCKET"):
        Settings(environment="test", data_dir=tmp_path)


def test_a_store_that_is_down_is_retryable_then_back(s3: S3Server) -> None:
    store = S3BlobStore.from_settings(s3.settings())
    store.put("t1/d1/v1/original", TEXT)
    s3.stop()
    try:
        for action in (
            lambda: store.get("t1/d1/v1/original"),
            lambda: store.put("t1/d1/v2/original", TEXT),
            lambda: store.exists("t1/d1/v1/original"),
            lambda: store.delete_prefix("t1/d1"),
            lambda: list(store.list()),
        ):
            with pytest.raises(UpstreamUnavailable) as caught:
                action()
            assert caught.value.component is Component.FILE_STORE
        # The worker's policy retries it, then fails the document with words, not hosts.
        policy = RetryPolicy(max_retries=2)
        assert isinstance(policy.decide(caught.value, 0), Retry)
        final = policy.decide(caught.value, 2)
        assert isinstance(final, Fail)
        assert final.reason == "the file store was unavailable, retried 2 times"
    finally:
        s3.start()
    # moto keeps objects in memory: the restarted server is empty, but serves again.
    store.ensure_bucket()
    store.put("t1/d1/v1/original", TEXT)
    assert store.get("t1/d1/v1/original") == TEXT


def test_local_puts_make_their_folders_and_leave_no_temporary_file(tmp_path: Path) -> None:
    """A put makes its folders only when missing (a new document's, then its chunk pages'),
    writes through a temporary file of its own name, and leaves none behind, nor one after a
    write that failed; a forked child names its temporary files apart from its parent's."""
    store = LocalBlobStore(tmp_path)
    keys = ["t1/doc-1/v1/original", "t1/doc-2/v1/chunks/000000.json", "t1/doc-3/v2/original"]
    for n, key in enumerate(keys):
        store.put(key, f"第{n}份 / 第{n}份 / copy {n}".encode())
        store.put(key, f"第{n}份 / 第{n}份 / copy {n} again".encode())  # the folder exists
    assert [store.get(key).decode() for key in keys] == [
        f"第{n}份 / 第{n}份 / copy {n} again" for n in range(3)
    ]
    with pytest.raises(TypeError):
        store.put("t1/doc-4/v1/original", "not bytes")  # type: ignore[arg-type]
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file())
    assert files == sorted(keys)
    assert (tmp_path / keys[0]).stat().st_mode & 0o777 == 0o600  # private, as mkstemp's
    names = {blobs._temporary_name(), blobs._temporary_name()}
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its name, to the parent
        os.write(write, blobs._temporary_name().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 200).decode()
    assert len(names) == 2 and child not in names
    assert all(name.startswith(".tmp-") for name in names | {child})
    assert child.split("-")[1:3] != next(iter(names)).split("-")[1:3]
