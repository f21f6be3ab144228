"""The composition root: settings in, ready-to-use services out.

The API's lifespan, the Celery worker and the CLI all build their object graph here, so the
choice of backend (embedded or server Qdrant, torch or ONNX, threads or Celery) is made in one
readable place.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from core.blobs import LocalBlobStore
from core.settings import Settings
from index.embedding import Embedder, available_cores, build_embedder, resolve_model
from index.sparse import Bm25Encoder, SparseEncoder
from index.store import VectorStore
from ingest.chunking import Chunker
from ingest.formats import check_archive_safety
from ingest.parsing import parse_document
from ingest.types import Chunk
from retrieval.search import Retriever
from workers.dispatch import Dispatcher
from workers.isolation import IsolatedParser
from workers.local import LocalDispatcher
from workers.services import IngestionServices, ParseFn
from zhiku.database import build_sessions

if TYPE_CHECKING:
    from retrieval.rerankers import Reranker

log = logging.getLogger(__name__)


def build_blobs(settings: Settings) -> LocalBlobStore:
    return LocalBlobStore(settings.blob_path)


def build_store(settings: Settings, dense_dim: int | None = None) -> VectorStore:
    q = settings.qdrant
    if q.url:
        from index.qdrant_server import QdrantServerStore

        store: VectorStore = QdrantServerStore.from_settings(q)
    else:
        from index.qdrant_embedded import EmbeddedQdrantStore

        store = EmbeddedQdrantStore.from_settings(q, settings.qdrant_path)
    if dense_dim is not None:
        store.ensure_collection(dense_dim)
    return store


def build_model(settings: Settings) -> Embedder:
    return build_embedder(settings.embedding, settings.model_cache_path)


def build_sparse() -> SparseEncoder:
    return Bm25Encoder()


def token_counter(settings: Settings) -> Callable[[str], int]:
    """The embedding model's tokenizer alone: what the chunker needs, without the model.
    Counts without special tokens, as ``Embedder.token_count`` does."""
    from tokenizers import Tokenizer

    model, _ = resolve_model(settings.embedding.model)
    tokenizer_file = Path(model) / "tokenizer.json"
    if tokenizer_file.is_file():
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
    else:
        tokenizer = Tokenizer.from_pretrained(model)
    tokenizer.no_truncation()
    tokenizer.no_padding()

    def count(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    return count


def build_parse_fn(settings: Settings) -> ParseFn:
    chunker = Chunker(settings.chunking, token_counter(settings))

    def parse(data: bytes, filename: str) -> tuple[list[Chunk], dict[str, object]]:
        check_archive_safety(data, settings.limits)
        parsed = parse_document(data, filename, settings.parsing, settings.limits)
        chunks = chunker.chunk(parsed.elements)
        return chunks, {**parsed.metadata, "elements": len(parsed.elements)}

    return parse


def build_ingestion_services(settings: Settings, worker_name: str = "local") -> IngestionServices:
    models: dict[str, Embedder] = {}

    def embedder() -> Embedder:
        if "dense" not in models:
            models["dense"] = build_model(settings)
        return models["dense"]

    return IngestionServices(
        settings=settings,
        sessions=build_sessions(settings),
        blobs=build_blobs(settings),
        store=lambda: build_store(settings, embedder().dim),
        embedder=embedder,
        sparse=build_sparse,
        worker_name=worker_name,
    )


def build_dispatcher(
    settings: Settings, services: IngestionServices
) -> tuple[Dispatcher, LocalDispatcher | None]:
    """Celery when a broker is configured; otherwise threads in this process (embedded)."""
    if settings.redis_url:
        from workers.dispatch import CeleryDispatcher

        return CeleryDispatcher(settings), None
    local = LocalDispatcher(
        services, [IsolatedParser(settings) for _ in range(parse_workers(settings))]
    )
    return local, local


def parse_workers(settings: Settings) -> int:
    """Parse child processes of the embedded default: as configured, or one per four cores
    (each holds ~0.9 GB; the model wants the other cores)."""
    if settings.parsing.workers > 0:
        return settings.parsing.workers
    return max(1, available_cores() // 4)


def build_reranker(settings: Settings) -> Reranker | None:
    """The configured cross-encoder, or None: reranking is kept only where it measured better."""
    if not settings.retrieval.reranker:
        return None
    from retrieval.rerankers import CrossEncoderReranker

    return CrossEncoderReranker(settings.retrieval.reranker, cache_dir=settings.model_cache_path)


def build_retriever(settings: Settings, services: IngestionServices) -> Retriever:
    """The query path over the same store and models ingestion writes with."""
    return Retriever(
        services.store,
        services.embedder,
        services.sparse,
        settings.retrieval,
        reranker=build_reranker(settings),
    )
