"""Chinese query normalisation on the sparse side: BM25 alone, before and after, in one run.

"Before" is version 1 of the tokens (NFKC, jieba on the text as written); "after" is the
shipped :func:`index.sparse.tokenize` (Traditional folded into Simplified, letter/digit words
split in Chinese text). Both run through the product's :class:`~index.sparse.Bm25Encoder`;
scores are BM25 exactly as Qdrant's IDF modifier computes it (``ln(1 + (N - n + 0.5) /
(n + 0.5))`` per matching term over the chunks), ranked by document (best chunk first).

Measured on xquad-r-zh chunked by the product, on its hash halves (``dev-half`` /
``test-half``, as in :mod:`bench.retrieval_research`), four ways: Simplified or Traditional
corpus × Simplified, Traditional or Taiwan-worded queries. The Traditional copies are made in
memory with OpenCC ``s2t`` (characters and phrases), the Taiwan ones with ``s2twp`` (also
Taiwan's vocabulary: 软件 → 軟體; the tables ``tw2sp`` reverses, so its upper bound). Also:
the encoder's documents/s before and after on the same chunks (best of alternating rounds),
and SciFact's abstracts (English) tokenized both ways, which must be identical.

    python -m bench.sparse_chinese [--rounds 3] [--no-summary]
"""

from __future__ import annotations

import argparse
import json
import math
import time
import unicodedata
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import opencc

from bench.common import REPO_ROOT, machine_info, merge_summary, shared_data_dir
from bench.retrieval_data import chunk_dataset, half_split, load_beir
from bench.retrieval_eval import documents, evaluate
from core.text_forms import fold_width, to_simplified
from index import sparse
from index.sparse import Bm25Encoder, tokenize
from index.types import SparseVector

RESULTS = REPO_ROOT / "bench" / "results"
DATASET = "xquad-r-zh"


def tokenize_v1(text: str) -> list[str]:
    """Version 1 of the tokens, as shipped before script folding (for "before")."""
    if text.isascii():
        return sparse._latin_tokens(text.lower())
    return sparse._mixed_tokens(unicodedata.normalize("NFKC", text).lower(), sparse._latin_tokens)


def tokenize_tw2sp(text: str) -> list[str]:
    """As "after", with OpenCC's ``tw2sp`` (Taiwan's vocabulary as the mainland's too): the
    road not taken, measured beside it."""
    if text.isascii():
        return sparse._latin_tokens(text.lower())
    folded = to_simplified(fold_width(text), "tw2sp.json").lower()
    return sparse._mixed_tokens(folded, sparse._latin_tokens_in_chinese)


ENCODERS: dict[str, Callable[[str], list[str]]] = {
    "before": tokenize_v1,
    "after": tokenize,
    "after-tw2sp": tokenize_tw2sp,
}


class Bm25Index:
    """Chunks' sparse vectors with Qdrant's IDF, searched exhaustively."""

    def __init__(self, vectors: Sequence[SparseVector]) -> None:
        self.postings: dict[int, list[tuple[int, float]]] = defaultdict(list)
        for chunk, vector in enumerate(vectors):
            for term, weight in zip(vector.indices, vector.values, strict=True):
                self.postings[term].append((chunk, weight))
        n = len(vectors)
        self.idf = {
            t: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for t, p in self.postings.items()
        }

    def search(self, query: SparseVector, limit: int = 100) -> list[tuple[int, float]]:
        scores: dict[int, float] = defaultdict(float)
        for term in query.indices:
            idf = self.idf.get(term, 0.0)
            for chunk, weight in self.postings.get(term, ()):
                scores[chunk] += idf * weight
        return sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:limit]


def encode_speed(
    texts: Sequence[str], rounds: int
) -> tuple[dict[str, float], dict[str, list[SparseVector]]]:
    """Documents/s of each encoder on ``texts``: best of ``rounds`` alternating rounds."""
    best = dict.fromkeys(ENCODERS, math.inf)
    vectors: dict[str, list[SparseVector]] = {}
    for _ in range(rounds):
        for name, tokenizer in ENCODERS.items():
            started = time.perf_counter()
            vectors[name] = Bm25Encoder(tokenizer=tokenizer).encode_documents(texts)
            best[name] = min(best[name], time.perf_counter() - started)
    return {name: round(len(texts) / seconds, 1) for name, seconds in best.items()}, vectors


def retrieval(
    chunk_texts: Sequence[str],
    doc_of: Sequence[str],
    queries: dict[str, str],
    splits: dict[str, dict[str, dict[str, int]]],
    vectors: dict[str, list[SparseVector]],
) -> dict[str, dict[str, dict[str, float]]]:
    """encoder -> split -> metrics, ``vectors`` being each encoder's chunk vectors."""
    outcome: dict[str, dict[str, dict[str, float]]] = {}
    for name, tokenizer in ENCODERS.items():
        index = Bm25Index(vectors[name])
        encoder = Bm25Encoder(tokenizer=tokenizer)
        rankings = {
            qid: documents(index.search(encoder.encode_query(text)), doc_of)
            for qid, text in queries.items()
        }
        outcome[name] = {split: evaluate(rankings, qrels) for split, qrels in splits.items()}
    return outcome


def english_unchanged() -> dict[str, Any]:
    """SciFact abstracts (English, some non-ASCII symbols): tokens identical before and after."""
    path = shared_data_dir() / "scifact" / "corpus.jsonl"
    texts = [json.loads(line)["text"] for line in path.open(encoding="utf-8")]
    differing = sum(tokenize_v1(t) != tokenize(t) for t in texts)
    return {"documents": len(texts), "differing": differing}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="speed rounds per encoder")
    parser.add_argument("--no-summary", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS / "sparse-chinese-2026-12-01.json")
    args = parser.parse_args(argv)

    data = load_beir(shared_data_dir() / DATASET, with_title=False)
    chunks = chunk_dataset(data)
    first, second = half_split(data.qrels["test"], DATASET)
    test = data.qrels["test"]
    splits = {"dev-half": {q: test[q] for q in first}, "test-half": {q: test[q] for q in second}}
    to_traditional = opencc.OpenCC("s2t.json").convert
    traditional_chunks = [to_traditional(t) for t in chunks.texts]
    traditional_queries = {q: to_traditional(t) for q, t in data.queries.items()}
    to_taiwan = opencc.OpenCC("s2twp.json").convert
    taiwan_queries = {q: to_taiwan(t) for q, t in data.queries.items()}
    changed = sum(a != b for a, b in zip(chunks.texts, traditional_chunks, strict=True))

    speed, vectors = encode_speed(chunks.texts, args.rounds)
    speed_traditional, traditional_vectors = encode_speed(traditional_chunks, args.rounds)
    report: dict[str, Any] = {
        "machine": machine_info(),
        "chunks": len(chunks.texts),
        "traditional_chunks_changed": changed,
        "docs_per_s": {"simplified": speed, "traditional": speed_traditional},
        "english_tokens_unchanged": english_unchanged(),
        "retrieval": {},
    }
    corpora = {"simplified": vectors, "traditional": traditional_vectors}
    texts = {"simplified": chunks.texts, "traditional": traditional_chunks}
    query_sets = {
        "simplified": data.queries,
        "traditional": traditional_queries,
        "taiwan": taiwan_queries,
    }
    for corpus, corpus_vectors in corpora.items():
        for script, queries in query_sets.items():
            key = f"{corpus}-corpus/{script}-queries"
            report["retrieval"][key] = retrieval(
                texts[corpus], chunks.doc_ids, queries, splits, corpus_vectors
            )
            print(key, json.dumps(report["retrieval"][key]))
    print(json.dumps({k: report[k] for k in ("docs_per_s", "english_tokens_unchanged")}))
    args.out.write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n")
    if not args.no_summary:
        merge_summary(headline(report))


LABELS = {"before": "v1", "after": "v2", "after-tw2sp": "v2-tw2sp"}


def headline(report: dict[str, Any]) -> dict[str, float]:
    """``xquad-r-zh/test-half/ndcg@10/bm25-trad-docs-taiwan-q-tokens-v2`` and the like; the
    plain Simplified corpus and queries are ``bm25-tokens-…``."""
    figures: dict[str, float] = {}
    for key, outcome in report["retrieval"].items():
        corpus, queries = (part.split("-")[0] for part in key.split("/"))
        plain = corpus == queries == "simplified"
        name = "bm25" if plain else f"bm25-{corpus[:4]}-docs-{queries[:4]}-q"
        for encoder, splits in outcome.items():
            config = f"{name}-tokens-{LABELS[encoder]}"
            figures[f"{DATASET}/test-half/ndcg@10/{config}"] = splits["test-half"]["ndcg@10"]
            if plain:
                recall = splits["test-half"]["recall@100"]
                figures[f"{DATASET}/test-half/recall@100/{config}"] = recall
    for corpus, speeds in report["docs_per_s"].items():
        for encoder, rate in speeds.items():
            config = f"bm25-encoder-{corpus[:4]}-chunks-tokens-{LABELS[encoder]}"
            figures[f"{DATASET}/all/docs_per_s/{config}"] = rate
    return figures


if __name__ == "__main__":
    main()
