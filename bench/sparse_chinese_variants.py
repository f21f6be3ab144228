"""Chinese BM25 token variants on xquad-r-zh, alone and fused with a dense leg (issue 12).

Step 1, sparse alone (BM25 exactly as Qdrant's IDF modifier scores it, exhaustive, documents
ranked by their best chunk, as :mod:`bench.sparse_chinese`): the shipped tokens against

* ``precise``: jieba's precise mode (``lcut``) instead of the shipped search mode
  (``lcut_for_search``, which adds the shorter words inside long ones);
* ``+bigrams`` / ``+unigrams``: every Han character bigram (or single character) of each run
  alongside jieba's words, as terms of their own (``②北京`` is not the word ``北京``), weighted
  ``w`` in the query (the document side keeps BM25's weights; ``w`` < 1 lets the words lead);
* ``bigrams only``: the classic CJK bigram index, no jieba;
* ``-stop``: a small list of Chinese function words dropped on both sides (``-qstop``: also
  the question words 什么, 多少, 哪, 谁 ..., which declarative passages rarely hold);
* BM25's ``k1`` and ``b`` for the best tokens.

Every variant keeps the shipped path for text without Han characters, so English is untouched:
SciFact's abstracts must tokenize identically (checked for every variant). Choices are made on
the dev half (``half_split``) and reported on the test half. Also the encoder's documents/s of
every variant on the same chunks, best of alternating rounds.

Step 2 (``--fusion``): DBSF (weighted) and RRF of each chosen variant's BM25 leg with a dense
leg whose vectors :mod:`bench.retrieval_research` cached (``open_context``: it never re-embeds
when the cache is there; ``--dense`` names the ``EmbeddingSettings.model``), weights and prefetch
depth tuned on the dev half. The dense leg is the store's own HNSW search, as in the product.

    nice -n 10 python -m bench.sparse_chinese_variants [--rounds 3] [--fusion] [--out NAME]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import opencc

from bench.common import REPO_ROOT, machine_info, shared_data_dir, write_json
from bench.retrieval_data import chunk_dataset, half_split, load_beir
from bench.retrieval_eval import Ranked, dbsf, documents, evaluate, rrf
from core.text_forms import HAN_RUN, search_form
from index import sparse
from index.sparse import DEFAULT_AVG_LEN, DEFAULT_B, DEFAULT_K1, tokenize

RESULTS = REPO_ROOT / "bench" / "results"
DATASET = "xquad-r-zh"
BIGRAM = "\u2461"  # ②: marks a character bigram term, apart from jieba's words
UNIGRAM = "\u2460"  # ①: marks a single-character term

# Function words: frequent, carry no topic. Small on purpose (as the English list).
_FUNCTION_WORD_LIST = """的 地 得 了 着 过 是 在 和 与 及 或 而 也 都 就 被 把 对
    从 以 于 为 之 其 这 那 这个 那个 这些 那些 一个 个 吗 呢 吧 啊 么 并 且 等 由 向 将 该 此"""
FUNCTION_WORDS = frozenset(_FUNCTION_WORD_LIST.split())
# Question words: in queries, almost never in the passages that answer them.
_QUESTION_WORD_LIST = """什么 什么样 多少 哪 哪个 哪些 哪里 哪儿 哪一 谁 为什么 为何
    怎么 怎样 怎么样 如何 几 何时 何 是否 多久 多大 多长"""
QUESTION_WORDS = frozenset(_QUESTION_WORD_LIST.split())


def _jieba_search(run: str) -> list[str]:
    return [w for w in sparse._chinese_segmenter().lcut_for_search(run) if w.strip()]


def _jieba_precise(run: str) -> list[str]:
    return [w for w in sparse._chinese_segmenter().lcut(run) if w.strip()]


def _bigrams(run: str) -> list[str]:
    return [BIGRAM + run[i : i + 2] for i in range(len(run) - 1)]


def _unigrams(run: str) -> list[str]:
    return [UNIGRAM + c for c in run]


def _shared_unigrams(run: str) -> list[str]:
    """Single characters as plain terms: the same term as jieba's one-character words."""
    return list(run)


def han_tokenizer(
    words: Callable[[str], list[str]] | None,
    extras: Sequence[Callable[[str], list[str]]] = (),
    stop: frozenset[str] = frozenset(),
) -> Callable[[str], list[str]]:
    """The shipped tokenizer with another treatment of each run of Han characters: ``words``
    (jieba's, or none), plus ``extras`` (character n-grams), less the ``stop`` words. Text
    without Han characters takes the shipped path unchanged."""

    def han(run: str) -> list[str]:
        tokens = [w for w in words(run) if w not in stop] if words else []
        for extra in extras:
            tokens += extra(run)
        return tokens

    def tokenize_variant(text: str) -> list[str]:
        if text.isascii():
            return sparse._latin_tokens(text.lower())
        folded = search_form(text).lower()
        runs = list(HAN_RUN.finditer(folded))
        if not runs:
            return sparse._latin_tokens(folded)
        tokens: list[str] = []
        position = 0
        for run in runs:
            tokens += sparse._latin_tokens_in_chinese(folded[position : run.start()])
            tokens += han(run.group())
            position = run.end()
        tokens += sparse._latin_tokens_in_chinese(folded[position:])
        return tokens

    return tokenize_variant


@dataclass(frozen=True)
class Variant:
    tokenizer: Callable[[str], list[str]]
    # Query weight of the marked n-gram terms (jieba's words weigh 1).
    extra_weight: float = 1.0
    # Terms dropped from queries only.
    query_stop: frozenset[str] = frozenset()


STOP = FUNCTION_WORDS
QSTOP = FUNCTION_WORDS | QUESTION_WORDS
VARIANTS: dict[str, Variant] = {
    "shipped": Variant(tokenize),
    "precise": Variant(han_tokenizer(_jieba_precise)),
    "shipped-stop": Variant(han_tokenizer(_jieba_search, stop=STOP)),
    "shipped-qstop": Variant(han_tokenizer(_jieba_search, stop=QSTOP)),
    "shipped-query-qstop": Variant(tokenize, query_stop=QSTOP),
    "+unigrams": Variant(han_tokenizer(_jieba_search, [_unigrams])),
    "+unigrams-w0.5": Variant(han_tokenizer(_jieba_search, [_unigrams]), 0.5),
    "+unigrams-w0.25": Variant(han_tokenizer(_jieba_search, [_unigrams]), 0.25),
    "+unigrams-w1.5": Variant(han_tokenizer(_jieba_search, [_unigrams]), 1.5),
    "+unigrams-w2": Variant(han_tokenizer(_jieba_search, [_unigrams]), 2.0),
    "+unigrams-shared": Variant(han_tokenizer(_jieba_search, [_shared_unigrams])),
    "+unigrams-qstop": Variant(han_tokenizer(_jieba_search, [_unigrams], QSTOP)),
    "precise+unigrams": Variant(han_tokenizer(_jieba_precise, [_unigrams])),
    "unigrams-only": Variant(han_tokenizer(None, [_unigrams])),
    "+bigrams": Variant(han_tokenizer(_jieba_search, [_bigrams])),
    "+bigrams-w0.5": Variant(han_tokenizer(_jieba_search, [_bigrams]), 0.5),
    "+bigrams-w0.25": Variant(han_tokenizer(_jieba_search, [_bigrams]), 0.25),
    "+bigrams-stop": Variant(han_tokenizer(_jieba_search, [_bigrams], STOP)),
    "+bigrams-qstop-w0.5": Variant(han_tokenizer(_jieba_search, [_bigrams], QSTOP), 0.5),
    "+bigrams+unigrams-w0.5": Variant(han_tokenizer(_jieba_search, [_bigrams, _unigrams]), 0.5),
    "bigrams-only": Variant(han_tokenizer(None, [_bigrams])),
    "bigrams+unigrams": Variant(han_tokenizer(None, [_bigrams, _unigrams])),
    "precise+bigrams-w0.5": Variant(han_tokenizer(_jieba_precise, [_bigrams]), 0.5),
}


class Bm25Index:
    """Chunks' BM25 weights with Qdrant's IDF (``ln(1 + (N - n + 0.5) / (n + 0.5))``), searched
    exhaustively; the query's weights multiply, as in Qdrant's sparse dot product."""

    def __init__(self, docs: Sequence[Mapping[str, float]]) -> None:
        self.postings: dict[str, list[tuple[int, float]]] = defaultdict(list)
        for chunk, weights in enumerate(docs):
            for term, weight in weights.items():
                self.postings[term].append((chunk, weight))
        n = len(docs)
        self.idf = {
            t: math.log(1 + (n - len(p) + 0.5) / (len(p) + 0.5)) for t, p in self.postings.items()
        }

    def search(self, query: Mapping[str, float], limit: int = 200) -> Ranked:
        scores: dict[int, float] = defaultdict(float)
        for term, q in query.items():
            idf = self.idf.get(term, 0.0) * q
            for chunk, weight in self.postings.get(term, ()):
                scores[chunk] += idf * weight
        return sorted(scores.items(), key=lambda item: (-item[1], item[0]))[:limit]


def bm25_weights(tokens: Sequence[str], k1: float, b: float, avg_len: float) -> dict[str, float]:
    """As :meth:`index.sparse.Bm25Encoder.encode_document`, keyed by term (no hashing)."""
    norm = k1 * (1 - b + b * len(tokens) / avg_len)
    return {t: tf * (k1 + 1) / (tf + norm) for t, tf in Counter(tokens).items()}


def query_weights(variant: Variant, text: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for token in variant.tokenizer(text):
        if token in variant.query_stop:
            continue
        marked = token[:1] in (BIGRAM, UNIGRAM)
        weights[token] = variant.extra_weight if marked else 1.0
    return weights


class Harness:
    def __init__(self, rounds: int) -> None:
        self.data = load_beir(shared_data_dir() / DATASET, with_title=False)
        self.chunks = chunk_dataset(self.data)
        first, second = half_split(self.data.qrels["test"], DATASET)
        test = self.data.qrels["test"]
        self.splits = {
            "dev-half": {q: test[q] for q in first},
            "test-half": {q: test[q] for q in second},
        }
        self.rounds = rounds
        self.tokens: dict[str, list[list[str]]] = {}

    def chunk_tokens(self, name: str, texts: Sequence[str] | None = None) -> list[list[str]]:
        if texts is not None:
            return [VARIANTS[name].tokenizer(t) for t in texts]
        if name not in self.tokens:
            self.tokens[name] = [VARIANTS[name].tokenizer(t) for t in self.chunks.texts]
        return self.tokens[name]

    def sparse_legs(
        self,
        name: str,
        k1: float = DEFAULT_K1,
        b: float = DEFAULT_B,
        queries: Mapping[str, str] | None = None,
        chunk_tokens: Sequence[Sequence[str]] | None = None,
    ) -> dict[str, Ranked]:
        variant = VARIANTS[name]
        tokens = chunk_tokens if chunk_tokens is not None else self.chunk_tokens(name)
        index = Bm25Index([bm25_weights(t, k1, b, DEFAULT_AVG_LEN) for t in tokens])
        queries = queries or self.data.queries
        return {q: index.search(query_weights(variant, t)) for q, t in queries.items()}

    def score(self, ranked: Mapping[str, Ranked]) -> dict[str, dict[str, float]]:
        rankings = {q: documents(r, self.chunks.doc_ids) for q, r in ranked.items()}
        return {split: evaluate(rankings, qrels) for split, qrels in self.splits.items()}

    def speed(self, names: Sequence[str]) -> dict[str, float]:
        """The encoder's documents/s per variant (tokens + BM25 weights + term ids), best of
        alternating rounds; jieba's dictionary is loaded beforehand."""
        sparse._chinese_segmenter()
        best = dict.fromkeys(names, math.inf)
        texts = self.chunks.texts
        for _ in range(self.rounds):
            for name in names:
                encoder = sparse.Bm25Encoder(tokenizer=VARIANTS[name].tokenizer)
                started = time.perf_counter()
                encoder.encode_documents(texts)
                best[name] = min(best[name], time.perf_counter() - started)
        return {name: round(len(texts) / seconds, 1) for name, seconds in best.items()}


def english_unchanged(names: Sequence[str]) -> dict[str, Any]:
    """SciFact abstracts (English, some non-ASCII symbols): every variant's tokens as shipped."""
    path = shared_data_dir() / "scifact" / "corpus.jsonl"
    texts = [json.loads(line)["text"] for line in path.open(encoding="utf-8")]
    shipped = [tokenize(t) for t in texts]
    differing = {
        name: sum(VARIANTS[name].tokenizer(t) != s for t, s in zip(texts, shipped, strict=True))
        for name in names
    }
    return {"documents": len(texts), "differing": differing}


def sparse_study(h: Harness) -> dict[str, Any]:
    out: dict[str, Any] = {"variants": {}, "k1_b": {}}
    for name in VARIANTS:
        scores = h.score(h.sparse_legs(name))
        out["variants"][name] = scores
        print(f"{name:26} " + _line(scores), flush=True)
    ranked = sorted(VARIANTS, key=lambda n: -out["variants"][n]["dev-half"]["ndcg@10"])
    # k1 and b for the shipped tokens and the four best variants on the dev half.
    for name in dict.fromkeys(["shipped", *ranked[:4]]):
        grid = {}
        for k1, b in itertools.product((0.5, 0.9, 1.2, 1.6, 2.0), (0.1, 0.25, 0.4, 0.6, 0.75, 0.9)):
            grid[f"k1={k1} b={b}"] = h.score(h.sparse_legs(name, k1, b))
        best = max(grid, key=lambda key: grid[key]["dev-half"]["ndcg@10"])
        out["k1_b"][name] = {"best_on_dev": best, "scores": grid[best], "grid": grid}
        print(f"{name:26} best {best}: " + _line(grid[best]), flush=True)
    out["ranked_on_dev"] = ranked
    return out


def traditional_check(h: Harness, names: Sequence[str]) -> dict[str, Any]:
    """Traditional corpus and queries (OpenCC ``s2t``, in memory): folding keeps the scores."""
    to_traditional = opencc.OpenCC("s2t.json").convert
    texts = [to_traditional(t) for t in h.chunks.texts]
    queries = {q: to_traditional(t) for q, t in h.data.queries.items()}
    out = {}
    for name in names:
        legs = h.sparse_legs(name, queries=queries, chunk_tokens=h.chunk_tokens(name, texts))
        out[name] = h.score(legs)
        print(f"traditional {name:14} " + _line(out[name]), flush=True)
    return out


def _line(scores: Mapping[str, Mapping[str, float]]) -> str:
    return "  ".join(f"{s} {v['ndcg@10']:.4f}/{v['recall@100']:.4f}" for s, v in scores.items())


# --- Step 2: fusion with a cached dense leg ---------------------------------------------------


def fused(dense: Ranked, sparse_leg: Ranked, settings: Mapping[str, Any]) -> Ranked:
    depth, w = settings["depth"], settings["dense_weight"]
    legs = [dense[:depth], sparse_leg[:depth]]
    if settings["fusion"] == "rrf":
        return rrf(legs, settings["k"], [w, 1.0])
    return dbsf(legs, [w, 1.0])


FUSION_GRID: list[dict[str, Any]] = [
    {"fusion": "dbsf", "depth": d, "dense_weight": w}
    for d in (50, 100, 200)
    for w in (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)
] + [
    {"fusion": "rrf", "depth": d, "k": k, "dense_weight": w}
    for d in (100, 200)
    for k in (10, 30, 60)
    for w in (0.8, 1.0, 1.25, 1.5, 2.0)
]


def fusion_study(
    h: Harness, dense_legs: Mapping[str, Ranked], names: Sequence[str], params: Mapping[str, Any]
) -> dict[str, Any]:
    """Per variant (at its k1/b in ``params``): equal-weight DBSF at prefetch 200 (the engine
    today), the best DBSF and the best RRF on the dev half."""
    out: dict[str, Any] = {"dense": h.score(dense_legs)}
    print("dense " + _line(out["dense"]), flush=True)
    for name in names:
        k1, b = params.get(name, (DEFAULT_K1, DEFAULT_B))
        legs = h.sparse_legs(name, k1, b)
        rows = []
        for settings in FUSION_GRID:
            ranked = {q: fused(dense_legs[q], legs[q], settings) for q in legs}
            rows.append((settings, h.score(ranked)))
        equal = next(
            s for c, s in rows if c == {"fusion": "dbsf", "depth": 200, "dense_weight": 1.0}
        )
        result: dict[str, Any] = {
            "k1": k1,
            "b": b,
            "sparse": h.score(legs),
            "dbsf-200-equal": equal,
        }
        print(f"{name:26} k1={k1} b={b} dbsf 200 equal: " + _line(equal), flush=True)
        for kind in ("dbsf", "rrf"):
            settings, scores = max(
                (r for r in rows if r[0]["fusion"] == kind),
                key=lambda r: r[1]["dev-half"]["ndcg@10"],
            )
            result[f"best-{kind}"] = {"settings": settings, "scores": scores}
            print(f"{name:26} best {kind} {settings}: " + _line(scores), flush=True)
        out[name] = result
    return out


def three_way_study(
    h: Harness, dense_legs: Mapping[str, Ranked], second: str, k1_b: tuple[float, float]
) -> dict[str, Any]:
    """DBSF of the dense leg, the shipped BM25 leg and a second BM25 leg over ``second``'s
    tokens (a second sparse vector per chunk): weights and depth tuned on the dev half."""
    words = h.sparse_legs("shipped")
    chars = h.sparse_legs(second, *k1_b)
    rows = []
    for depth, w_dense, w_chars in itertools.product(
        (50, 100, 200), (0.75, 1.0, 1.25, 1.5, 2.0, 2.5), (0.0, 0.25, 0.5, 0.75, 1.0, 1.5)
    ):
        ranked = {
            q: dbsf(
                [dense_legs[q][:depth], words[q][:depth], chars[q][:depth]],
                [w_dense, 1.0, w_chars],
            )
            for q in words
        }
        settings = {"depth": depth, "dense_weight": w_dense, "second_weight": w_chars}
        rows.append((settings, h.score(ranked)))
    settings, scores = max(rows, key=lambda r: r[1]["dev-half"]["ndcg@10"])
    print(f"three-way with {second} best {settings}: " + _line(scores), flush=True)
    return {"second": second, "k1_b": k1_b, "best": settings, "scores": scores}


def paired_difference(
    h: Harness, base: Mapping[str, Ranked], other: Mapping[str, Ranked], rounds: int = 2000
) -> dict[str, dict[str, float]]:
    """Mean per-query nDCG@10 difference (other - base) per half, with a bootstrap 95%
    interval over queries: how much of a gain is noise."""
    import random

    from bench.retrieval_eval import ndcg_at

    out = {}
    rng = random.Random(12)
    for split, qrels in h.splits.items():
        diffs = [
            ndcg_at(documents(other[q], h.chunks.doc_ids), rel)
            - ndcg_at(documents(base[q], h.chunks.doc_ids), rel)
            for q, rel in qrels.items()
        ]
        means = sorted(sum(rng.choices(diffs, k=len(diffs))) / len(diffs) for _ in range(rounds))
        out[split] = {
            "mean": round(sum(diffs) / len(diffs), 4),
            "ci95": [round(means[int(0.025 * rounds)], 4), round(means[int(0.975 * rounds)], 4)],
        }
    return out


def dense_legs_from_cache(model_setting: str) -> tuple[dict[str, Ranked], dict[str, Any]]:
    """The dense leg of :func:`bench.retrieval_research.open_context` (cached vectors only)."""
    from bench.retrieval_data import CACHE, passage_vectors, product_dense
    from bench.retrieval_research import open_context

    model = product_dense(model_setting)
    data = load_beir(shared_data_dir() / DATASET, with_title=False)
    chunks = chunk_dataset(data)
    import hashlib

    slug = hashlib.sha256(model.name.encode()).hexdigest()[:10]
    path = CACHE / DATASET / f"dense-{slug}-{chunks.key}.npy"
    if not path.is_file():
        raise SystemExit(f"no cached vectors at {path}: would re-embed, wait for them")
    assert passage_vectors(model, chunks, DATASET).shape[0] == len(chunks.texts)
    ctx = open_context(DATASET, model, with_title=False, data=data)
    try:
        return dict(ctx.dense_legs), {"model": model.name, "vectors": str(path)}
    finally:
        ctx.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="speed rounds per variant")
    parser.add_argument("--fusion", action="store_true", help="step 2: fuse with cached dense")
    parser.add_argument("--dense", default="packaged:multilingual-e5-small")
    parser.add_argument(
        "--fusion-variants", default="", help="comma list (default: shipped + 3 best on dev)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS / "sparse-chinese-variants.json")
    parser.add_argument(
        "--extra-fusion",
        action="store_true",
        help="only the three-way (two sparse legs) study and paired intervals",
    )
    args = parser.parse_args(argv)

    h = Harness(args.rounds)
    if args.extra_fusion:
        extra_fusion(h, args)
        return
    report: dict[str, Any] = {
        "machine": machine_info(),
        "started": time.strftime("%F %T"),
        "chunks": len(h.chunks.texts),
        "queries": {s: len(q) for s, q in h.splits.items()},
    }
    report["english_tokens_unchanged"] = english_unchanged(list(VARIANTS))
    print(json.dumps(report["english_tokens_unchanged"]), flush=True)
    study = sparse_study(h)
    report["sparse"] = study
    best = study["ranked_on_dev"][:4]
    report["traditional"] = traditional_check(h, list(dict.fromkeys(["shipped", *best])))
    report["docs_per_s"] = h.speed(list(VARIANTS))
    print(json.dumps(report["docs_per_s"]), flush=True)
    if args.fusion:
        names = (
            args.fusion_variants.split(",")
            if args.fusion_variants
            else ["shipped", "+unigrams", *best]
        )
        names = list(dict.fromkeys(names))
        params: dict[str, Any] = {}
        for name in names:
            params[name] = (DEFAULT_K1, DEFAULT_B)
            tuned = study["k1_b"].get(name)
            if tuned:
                k1, b = (float(p.split("=")[1]) for p in tuned["best_on_dev"].split())
                params[f"{name}@tuned"] = (k1, b)
        dense, about = dense_legs_from_cache(args.dense)
        report["fusion_dense"] = about
        tuned_names = [n for n in params if "@" not in n]
        report["fusion"] = fusion_study(h, dense, tuned_names, params)
        extra = {n.split("@")[0]: v for n, v in params.items() if "@" in n}
        if extra:
            report["fusion_tuned_k1_b"] = fusion_study(h, dense, list(extra), extra)
    write_json(args.out, report)
    print(f"wrote {args.out}")


def extra_fusion(h: Harness, args: argparse.Namespace) -> None:
    """Two sparse legs fused with the dense one; paired intervals of the step-2 gains."""
    dense, about = dense_legs_from_cache(args.dense)
    report: dict[str, Any] = {"machine": machine_info(), "fusion_dense": about}
    report["three_way"] = [
        three_way_study(h, dense, "bigrams+unigrams", (DEFAULT_K1, DEFAULT_B)),
        three_way_study(h, dense, "unigrams-only", (DEFAULT_K1, DEFAULT_B)),
        three_way_study(h, dense, "bigrams-only", (DEFAULT_K1, DEFAULT_B)),
    ]
    equal = {"fusion": "dbsf", "depth": 200, "dense_weight": 1.0}
    shipped = h.sparse_legs("shipped")
    base = {q: fused(dense[q], shipped[q], equal) for q in shipped}
    report["paired_vs_shipped_dbsf_200_equal"] = {}
    for name, k1_b, settings in (
        ("+unigrams", (DEFAULT_K1, DEFAULT_B), equal),
        ("bigrams+unigrams", (DEFAULT_K1, DEFAULT_B), equal),
        ("+bigrams+unigrams-w0.5", (DEFAULT_K1, DEFAULT_B), equal),
        ("precise+unigrams", (0.5, 0.9), equal),
        ("shipped", (DEFAULT_K1, DEFAULT_B), {**equal, "depth": 50, "dense_weight": 2.0}),
        ("bigrams+unigrams", (0.5, 0.25), {**equal, "dense_weight": 1.5}),
    ):
        legs = h.sparse_legs(name, *k1_b)
        other = {q: fused(dense[q], legs[q], settings) for q in legs}
        key = (
            f"{name} k1={k1_b[0]} b={k1_b[1]} dbsf {settings['depth']} w{settings['dense_weight']}"
        )
        report["paired_vs_shipped_dbsf_200_equal"][key] = paired_difference(h, base, other)
        print(key, report["paired_vs_shipped_dbsf_200_equal"][key], flush=True)
    write_json(args.out, report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
