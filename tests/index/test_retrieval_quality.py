"""Model quality on real data (slow): the int8 ONNX embedder against torch on SciFact
abstracts, and BM25 retrieval on xquad-r-zh. The unit tests of the same encoders are in
test_embedding.py and test_sparse.py."""

from __future__ import annotations

import collections
import json
import math
from pathlib import Path

import pytest

from index.embedding import SentenceTransformerEmbedder
from index.embedding_onnx import OnnxEmbedder, ensure_onnx_model
from index.sparse import Bm25Encoder
from tests.support import scifact_passages, shared_data_dir

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def passages() -> list[str]:
    """Real SciFact abstracts, most of them longer than the 256-token window."""
    return scifact_passages()


def test_onnx_int8_agrees_with_torch_on_real_passages(passages: list[str], tmp_path: Path) -> None:
    ensure_onnx_model("", tmp_path)
    onnx_embedder = OnnxEmbedder.from_model("", tmp_path)
    torch_embedder = SentenceTransformerEmbedder(device="cpu")
    cosines = (
        torch_embedder.embed_documents(passages) * onnx_embedder.embed_documents(passages)
    ).sum(axis=1)
    assert cosines.min() > 0.97
    assert cosines.mean() > 0.985


def test_chinese_retrieval_with_engine_style_idf() -> None:
    """The vectors rank xquad-r-zh passages as Qdrant's IDF modifier would (first 200 queries)."""
    data = shared_data_dir() / "xquad-r-zh"
    corpus = [json.loads(line) for line in (data / "corpus.jsonl").open()]
    queries = {q["_id"]: q["text"] for q in map(json.loads, (data / "queries.jsonl").open())}
    relevant: dict[str, set[str]] = collections.defaultdict(set)
    for line in list((data / "qrels" / "test.tsv").open())[1:]:
        query_id, doc_id, _ = line.split("\t")
        relevant[query_id].add(doc_id)
    encoder = Bm25Encoder()
    postings: dict[int, list[tuple[int, float]]] = collections.defaultdict(list)
    for row, vector in enumerate(encoder.encode_documents([d["text"] for d in corpus])):
        for index, weight in zip(vector.indices, vector.values, strict=True):
            postings[index].append((row, weight))
    hits = 0
    evaluated = list(relevant)[:200]
    for query_id in evaluated:
        scores: dict[int, float] = collections.defaultdict(float)
        for index in encoder.encode_query(queries[query_id]).indices:
            docs = postings.get(index, [])
            idf = math.log(1 + (len(corpus) - len(docs) + 0.5) / (len(docs) + 0.5))
            for row, weight in docs:
                scores[row] += idf * weight
        best = max(scores, key=scores.__getitem__)
        hits += corpus[best]["_id"] in relevant[query_id]
    assert hits / len(evaluated) > 0.7
