"""The components the composition root (``zhiku.container``) builds from settings alone: the
vector store, the blob store, the embedding model, the reranker, the parse-child count and the
retry policy. Also used on their own by the worker, the command line and the backups."""

from __future__ import annotations

from typing import TYPE_CHECKING

from core.blobs import BlobStore, LocalBlobStore
from core.settings import Settings
from index.embedders import build_embedder
from index.embedding import Embedder, available_cores
from index.store import VectorStore
from workers.retry import RetryPolicy

if TYPE_CHECKING:
    from retrieval.rerankers import Reranker


def build_store(settings: Settings, dense_dim: int | None = None) -> VectorStore:
    q = settings.qdrant
    if q.url:
        from index.qdrant_server import QdrantServerStore

        store: VectorStore = QdrantServerStore.from_settings(q)
    else:
        from index.qdrant_embedded import EmbeddedQdrantStore

        store = EmbeddedQdrantStore.from_settings(q, settings.qdrant_path)
    if dense_dim is not None:
        store.ensure_collection(dense_dim, settings.embedding.vector_layout)
    return store


def build_blob_store(settings: Settings) -> BlobStore:
    """The local folder (the embedded default), or an S3-compatible store shared by machines."""
    if settings.blobs.backend == "s3":
        from core.blobs_s3 import S3BlobStore

        return S3BlobStore.from_settings(settings.blobs)
    return LocalBlobStore(settings.blob_path)


def build_model(settings: Settings) -> Embedder:
    return build_embedder(settings.embedding, settings.model_cache_path)


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


def retry_policy(settings: Settings) -> RetryPolicy:
    return RetryPolicy(settings.worker.max_retries, settings.worker.retry_cap_s)


def cookie_secure(settings: Settings) -> bool:
    """Browser cookies marked Secure even over plain HTTP: as set, else in production."""
    if settings.web.cookie_secure is not None:
        return settings.web.cookie_secure
    return settings.environment == "production"
