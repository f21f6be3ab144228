"""What the ingestion stages need (and nothing more), and the types they share."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum

from core.blobs import BlobStore
from core.db.session import SessionFactory
from core.resources import Resource
from core.settings import WorkerSettings
from core.settings_pii import PiiSettings
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
    RETRY = "retry"  # an error that was not the document's fault; the claim was released


@dataclass(frozen=True)
class StageContext:
    """The vector store and the model are resources opened on first use, so a parse-only
    worker never loads a model nor locks an embedded store."""

    sessions: SessionFactory
    blobs: BlobStore
    store_resource: Resource[VectorStore]
    embedder_resource: Resource[Embedder]
    sparse: SparseEncoder
    worker: WorkerSettings
    upsert_batch: int = 256
    worker_name: str = "local"
    # Personal-data redaction: each tenant's mode decides whether chunks are masked.
    pii: PiiSettings = field(default_factory=PiiSettings)
    # ``parsing.max_chunks_per_document``: a document parsed into more fails (0: no limit).
    max_chunks_per_document: int = 50_000

    @property
    def store(self) -> VectorStore:
        return self.store_resource.get()

    @property
    def embedder(self) -> Embedder:
        return self.embedder_resource.get()

    @property
    def beat_interval_s(self) -> float:
        """How often a long call refreshes its claim: well inside ``stale_after_s``."""
        return max(1.0, self.worker.stale_after_s / 5)
