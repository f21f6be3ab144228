"""The peer to beat: LlamaIndex's standard ingestion on the same documents.

``IngestionPipeline([SentenceSplitter(256, 32), embedding])`` into ``QdrantVectorStore`` over
an in-memory ``QdrantClient``, run once with LlamaIndex's own HuggingFace embedding class (the
packaged MiniLM on torch) and once with a thin ``BaseEmbedding`` over Zhiku's int8 ONNX
embedder, so the comparison holds with either model path. Text files become ``Document``s
directly; PDF and DOCX files are read with the same unstructured parser Zhiku uses (LlamaIndex
core has no PDF/DOCX reader of its own), inside the timed section.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bench.common import CallStats, PhaseResources, ResourceSampler
from bench.corpora import SourceDoc, as_text
from core.settings import Settings

Embedder = Any  # Zhiku's embedder (index.embedding or index.embedders): any with its methods

CHUNK_SIZE = 256
CHUNK_OVERLAP = 32
# Kinds Zhiku's chunker leaves out too: they carry no content of their own.
_BOILERPLATE = {"header", "footer", "page_number", "image"}


@dataclass
class LlamaRun:
    corpus: str
    embedding: str
    documents: int
    nodes: int
    points: int
    read_s: float
    split_only_s: float
    resources: PhaseResources
    model_calls: dict[str, object] | None = None
    # MiniLM tokens of what was embedded (metadata prefix included), capped at the window.
    mean_tokens: float = 0.0


def zhiku_embedding(embedder: Embedder, batch_size: int) -> Any:
    """A LlamaIndex embedding that calls Zhiku's embedder (same model path as the pipeline)."""
    from llama_index.core.base.embeddings.base import BaseEmbedding
    from pydantic import PrivateAttr

    class ZhikuEmbedding(BaseEmbedding):
        _embedder: Any = PrivateAttr()
        _stats: CallStats = PrivateAttr()

        def __init__(self, inner: Embedder, **kwargs: Any) -> None:
            super().__init__(model_name=inner.name, **kwargs)
            self._embedder = inner
            self._stats = CallStats()

        def _get_query_embedding(self, query: str) -> list[float]:
            return self._embedder.embed_query(query).tolist()

        async def _aget_query_embedding(self, query: str) -> list[float]:
            return self._get_query_embedding(query)

        def _get_text_embedding(self, text: str) -> list[float]:
            return self._get_text_embeddings([text])[0]

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            started = time.perf_counter()
            vectors = self._embedder.embed_documents(texts).tolist()
            self._stats.calls += 1
            self._stats.items += len(texts)
            self._stats.seconds += time.perf_counter() - started
            self._stats.sizes.append(len(texts))
            return vectors

    # LlamaIndex hands the embedding one call per ``embed_batch_size`` texts; Zhiku's ONNX
    # embedder runs ``concurrency`` batches side by side, so each call carries one batch per
    # worker, as the pipeline's calls do: the peer gets the model's full speed.
    return ZhikuEmbedding(embedder, embed_batch_size=batch_size * embedder.concurrency)


def huggingface_embedding(batch_size: int) -> Any:
    """LlamaIndex's standard class over the packaged MiniLM folder (no hub access)."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import importlib

    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    for where in ("index.models", "index.embedders", "index.embedding"):  # it is moving
        default_model_dir = getattr(importlib.import_module(where), "default_model_dir", None)
        if default_model_dir is not None:
            break
    assert default_model_dir is not None, "default_model_dir not found"

    return HuggingFaceEmbedding(
        model_name=str(default_model_dir()),
        device="cpu",
        embed_batch_size=batch_size,
        local_files_only=True,
    )


def read_documents(docs: Sequence[SourceDoc], settings: Settings) -> list[Any]:
    from llama_index.core import Document

    from ingest.parsing import parse_document

    out = []
    for doc in docs:
        if doc.kind == "txt":
            text = as_text(doc)
        else:
            try:
                parsed = parse_document(doc.data, doc.filename, settings.parsing, settings.limits)
            except Exception:  # the same files Zhiku fails on; counted as documents all the same
                continue
            text = "\n\n".join(e.text for e in parsed.elements if e.kind not in _BOILERPLATE)
        out.append(Document(text=text, metadata={"file_name": doc.filename}))
    return out


def run_llama(
    corpus: str,
    docs: Sequence[SourceDoc],
    settings: Settings,
    embedding_name: str,
    embed_model: Any,
    count_tokens: Callable[[str], int],
) -> LlamaRun:
    from llama_index.core.ingestion import IngestionPipeline
    from llama_index.core.node_parser import SentenceSplitter
    from llama_index.core.schema import MetadataMode
    from llama_index.vector_stores.qdrant import QdrantVectorStore
    from qdrant_client import QdrantClient

    # Outside the clock: how long the splitter alone takes on these documents.
    documents = read_documents(docs, settings)
    split_started = time.perf_counter()
    splitter = SentenceSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    splitter.get_nodes_from_documents(documents)
    split_only_s = time.perf_counter() - split_started

    client = QdrantClient(":memory:")
    collection = f"bench_{corpus}"
    with ResourceSampler() as sampler:
        read_started = time.perf_counter()
        documents = read_documents(docs, settings)
        read_s = time.perf_counter() - read_started
        pipeline = IngestionPipeline(
            transformations=[
                SentenceSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP),
                embed_model,
            ],
            vector_store=QdrantVectorStore(collection_name=collection, client=client),
        )
        nodes = pipeline.run(documents=documents)
    points = client.count(collection).count
    client.close()
    stats = getattr(embed_model, "_stats", None)
    embedded = [n.get_content(metadata_mode=MetadataMode.EMBED) for n in nodes]
    return LlamaRun(
        corpus=corpus,
        embedding=embedding_name,
        documents=len(docs),
        nodes=len(nodes),
        points=points,
        read_s=round(read_s, 2),
        split_only_s=round(split_only_s, 2),
        resources=sampler.result,
        model_calls=stats.summary() if stats is not None else None,
        mean_tokens=mean_tokens(embedded, count_tokens, settings.embedding.max_tokens),
    )


def mean_tokens(texts: Sequence[str], count: Callable[[str], int], cap: int) -> float:
    """What the model actually runs on per text: tokens, truncated to its window."""
    if not texts:
        return 0.0
    return round(sum(min(cap, count(t)) for t in texts) / len(texts), 1)
