"""What the ingestion stages need, and the names they share."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from enum import Enum

from core.blobs import BlobStore
from core.db.session import SessionFactory
from core.settings import Settings
from index.embedding import Embedder
from index.sparse import SparseEncoder
from index.store import VectorStore
from ingest.types import Chunk

# parse(data, filename) -> (chunks, parser facts). Injected so the embedded runner can
# isolate parsing in a child process and Celery can run it inline in its prefork child.
ParseResult = tuple[list[Chunk], dict[str, object]]
ParseFn = Callable[[bytes, str], ParseResult]
# The same for several files at once: each file's result, or the exception it raised.
ParseManyFn = Callable[[Sequence[tuple[bytes, str]]], list[ParseResult | Exception]]


def parse_each(parse: ParseFn) -> ParseManyFn:
    """A ``ParseManyFn`` that calls ``parse`` on one file after another, in this process."""

    def parse_many(items: Sequence[tuple[bytes, str]]) -> list[ParseResult | Exception]:
        results: list[ParseResult | Exception] = []
        for data, filename in items:
            try:
                results.append(parse(data, filename))
            except Exception as exc:
                results.append(exc)
        return results

    return parse_many


class Outcome(Enum):
    EMBED_NEXT = "embed-next"  # parsing done; the embed stage must run
    PARSE_NEXT = "parse-next"  # an embed message came before parsing finished
    DONE = "done"
    SKIPPED = "skipped"  # nothing to do: finished, deleted, superseded, or another run holds it
    FAILED = "failed"
    RETRY = "retry"  # a transient error; the claim was released


class IngestionServices:
    """The vector store and the models are opened on first use, so a parse-only worker never
    loads a model nor locks an embedded store."""

    def __init__(
        self,
        settings: Settings,
        sessions: SessionFactory,
        blobs: BlobStore,
        store: Callable[[], VectorStore],
        embedder: Callable[[], Embedder],
        sparse: Callable[[], SparseEncoder],
        worker_name: str = "local",
    ) -> None:
        self.settings = settings
        self.sessions = sessions
        self.blobs = blobs
        self.worker_name = worker_name
        self._factories = {"store": store, "embedder": embedder, "sparse": sparse}
        self._built: dict[str, object] = {}
        self._lock = threading.Lock()

    def _get(self, name: str) -> object:
        with self._lock:
            if name not in self._built:
                self._built[name] = self._factories[name]()
            return self._built[name]

    @property
    def store(self) -> VectorStore:
        return self._get("store")  # type: ignore[return-value]

    @property
    def embedder(self) -> Embedder:
        return self._get("embedder")  # type: ignore[return-value]

    @property
    def sparse(self) -> SparseEncoder:
        return self._get("sparse")  # type: ignore[return-value]

    def close(self) -> None:
        with self._lock:
            store = self._built.pop("store", None)
        if store is not None:
            store.close()  # type: ignore[attr-defined]


def original_key(tenant_id: str, doc_id: str, version: int) -> str:
    return f"{tenant_id}/{doc_id}/v{version}/original"


def chunks_key(tenant_id: str, doc_id: str, version: int) -> str:
    return f"{tenant_id}/{doc_id}/v{version}/chunks.json"
