"""Documents that mix Chinese and English, asked in each language: the mixed-language check of
issue 12, beside SciFact and xquad-r-zh.

    nice -n 10 python -m bench.retrieval_mixed [--pairs 150] [--distractors 1000]
        [--mixed-distractors 0] [--models e5,minilm]

Each mixed document joins one SciFact test abstract (English) and one xquad-r-zh test passage
(Chinese), in one of two shapes met in enterprises:

- an English manual with Chinese notes: the abstract, then "备注：" and the Chinese passage;
- a Chinese contract quoting English terms: the Chinese passage with the abstract's opening
  sentences quoted inside it ("（英文原文：“…”）").

The two pure originals are taken out of the corpus, so the mixed document is the one relevant
answer to both the SciFact question (English) and the xquad-r-zh question (Chinese). The rest
of the corpus is pure distractors of both languages. Each configuration runs through the
product's store (chunks sized by the model's own tokenizer), and routes as the product does:
a query in a language the dense model does not serve is searched on the keyword side alone.
Writes ``bench/results/retrieval_mixed.json`` and merges
``mixed-zh-en/{en,zh}-questions/ndcg@10/<configuration>`` into ``summary.json``.

``--mixed-distractors N`` adds N mixed documents relevant to no question (the false matches a
real mixed corpus holds); that set is named ``mixed-zh-en-mdN`` (its own cache, its own
summary keys) and writes ``retrieval_mixed-mdN.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import time
from typing import Any

from bench.common import machine_info, merge_summary, shared_data_dir, write_json
from bench.retrieval_data import Dataset, load_beir, product_dense
from bench.retrieval_default import shipped
from bench.retrieval_eval import evaluate
from bench.retrieval_research import RESULTS, for_queries, open_context
from core.settings import Settings
from index.models import PACKAGED_MINILM
from retrieval.language import dense_languages

NAME = "mixed-zh-en"
# Bumped when chunking changes for mixed documents only (pure ones chunk as before, so the
# shared CHUNK_RECIPE, and every other dataset's cached vectors, stay valid).
CHUNKING = "script-boundaries-eighth"
MODELS = {"e5": "packaged:multilingual-e5-small", "minilm": PACKAGED_MINILM}


def _single(qrels: dict[str, dict[str, int]]) -> list[tuple[str, str]]:
    return sorted((q, next(iter(rel))) for q, rel in qrels.items() if len(rel) == 1)


def _distinct(pairs: list[tuple[str, str]], count: int) -> tuple[list[tuple[str, str]], set[str]]:
    """The first ``count`` (query, document) pairs whose documents differ, and those documents."""
    kept: list[tuple[str, str]] = []
    documents: set[str] = set()
    for query, doc in pairs:
        if doc not in documents and len(kept) < count:
            kept.append((query, doc))
            documents.add(doc)
    return kept, documents


def _opening(text: str, words: int) -> str:
    """The first sentences of an English text, about ``words`` words."""
    kept: list[str] = []
    for sentence in re.split(r"(?<=[.!?])\s+", text):
        kept.append(sentence)
        if sum(len(s.split()) for s in kept) >= words:
            break
    return " ".join(kept)


def dataset_name(mixed_distractors: int) -> str:
    """Its own name (and cache folder) per mixed-distractor count; 0 is the original set."""
    return f"{NAME}-md{mixed_distractors}" if mixed_distractors else NAME


def _mixed(n: int, abstract: str, title: str, passage: str) -> tuple[str, str, str | None]:
    """(shape, text, title) of the ``n``-th mixed document: even ones manuals, odd contracts."""
    if n % 2 == 0:  # an English manual with Chinese notes
        return "manual", f"{_opening(abstract, 120)}\n\n备注：{passage[:160]}", title
    # a Chinese contract quoting English terms
    cut = max(1, min(len(passage) // 2, 80))
    quoted = _opening(abstract, 40)
    return "contract", f"{passage[:cut]}（英文原文：“{title}. {quoted}”）{passage[cut:160]}", None


def build(pairs: int, distractors: int, seed: int = 11, mixed_distractors: int = 0) -> Dataset:
    """``mixed_distractors``: that many mixed documents more, built the same two ways from
    SciFact abstracts relevant to no test question and xquad-r-zh passages relevant to no kept
    question, none of them used elsewhere in the set. xquad-r-zh has too few passages for 1,000
    pure distractors besides, so its pure distractors shrink to what is left (reported)."""
    shared = shared_data_dir()
    sci = load_beir(shared / "scifact", with_title=True)
    xq = load_beir(shared / "xquad-r-zh", with_title=False)
    pick = random.Random(seed)
    english = _single(sci.qrels["test"])
    chinese = _single(xq.qrels["test"])
    pick.shuffle(english)
    pick.shuffle(chinese)
    english, used_en = _distinct(english, pairs)
    chinese, used_zh = _distinct(chinese, pairs)
    texts: dict[str, str] = {}
    titles: dict[str, str] = {}
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    for n, ((eq, ed), (zq, zd)) in enumerate(zip(english, chinese, strict=False)):
        shape, text, title = _mixed(n, sci.texts[ed], sci.titles[ed], xq.texts[zd])
        doc = f"mixed-{shape}-{n}"
        texts[doc] = text
        if title is not None:
            titles[doc] = title
        queries[f"en-{eq}"] = sci.queries[eq]
        queries[f"zh-{zq}"] = xq.queries[zq]
        qrels[f"en-{eq}"] = {doc: 1}
        qrels[f"zh-{zq}"] = {doc: 1}
    others_en = sorted(d for d in sci.texts if d not in used_en)
    others_zh = sorted(d for d in xq.texts if d not in used_zh)
    pick.shuffle(others_en)
    pick.shuffle(others_zh)
    for d in others_en[:distractors]:
        texts[f"en-{d}"], titles[f"en-{d}"] = sci.texts[d], sci.titles[d]
    # The mixed distractors' passages come off the end of the pure pool, so no passage is used
    # twice and the pure distractors of N = 0 are exactly those of the original set.
    pure_zh = others_zh[: min(distractors, len(others_zh) - mixed_distractors)]
    for d in pure_zh:
        texts[f"zh-{d}"] = xq.texts[d]
    if mixed_distractors:
        relevant = {d for rel in sci.qrels["test"].values() for d in rel}
        spare_en = sorted(set(others_en[distractors:]) - relevant)
        spare_zh = others_zh[len(others_zh) - mixed_distractors :]
        pick.shuffle(spare_en)
        if len(spare_en) < mixed_distractors or len(spare_zh) < mixed_distractors:
            raise ValueError(f"too few spare documents for {mixed_distractors} mixed distractors")
        for n, (ed, zd) in enumerate(zip(spare_en, spare_zh, strict=False)):
            shape, text, title = _mixed(n, sci.texts[ed], sci.titles[ed], xq.texts[zd])
            doc = f"distractor-{shape}-{n}"  # not "mixed-": the per-shape filters skip them
            texts[doc] = text
            if title is not None:
                titles[doc] = title
    # CHUNKING names how the chunker treats these mixed documents: part of the cache key.
    digest = hashlib.sha256(
        json.dumps([texts, titles, CHUNKING], sort_keys=True).encode()
    ).hexdigest()
    name = dataset_name(mixed_distractors)
    return Dataset(name, titles, texts, queries, {"test": qrels}, True, digest[:16])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=150)
    parser.add_argument("--distractors", type=int, default=1000, help="per language")
    parser.add_argument(
        "--mixed-distractors", type=int, default=0, help="mixed documents relevant to nothing"
    )
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated")
    parser.add_argument("--no-summary", action="store_true")
    args = parser.parse_args()
    name = dataset_name(args.mixed_distractors)
    settings = Settings().retrieval
    report: dict[str, Any] = {
        "machine": machine_info(),
        "started": time.strftime("%F %T"),
        "pairs": args.pairs,
        "distractors_per_language": args.distractors,
        "mixed_distractors": args.mixed_distractors,
    }
    figures: dict[str, float] = {}
    for label in args.models.split(","):
        data = build(args.pairs, args.distractors, mixed_distractors=args.mixed_distractors)
        report["documents"] = {
            kind: sum(d.startswith(kind) for d in data.texts)
            for kind in ("mixed-", "distractor-", "en-", "zh-")
        }
        model = product_dense(MODELS[label])
        languages = dense_languages(settings, model.name)
        ctx = open_context(name, model, with_title=True, data=data, tokens_of=MODELS[label])
        try:
            configurations = {
                f"{label}-default": for_queries(
                    ctx, lambda q, c=ctx, lg=languages: shipped(c, q, settings, lg)
                ),
                f"{label}-dense": ctx.dense_legs,
                "sparse": ctx.sparse_legs,
            }
            rows: dict[str, Any] = {"chunks": len(ctx.chunks.texts), "dense_languages": languages}
            for configuration, ranked in configurations.items():
                rankings = ctx.rankings(ranked)
                by_language = {
                    lang: evaluate(
                        rankings, {q: r for q, r in data.qrels["test"].items() if q[:2] == lang}
                    )
                    for lang in ("en", "zh")
                }
                for shape in ("manual", "contract"):  # which mixed shape holds the answer
                    for lang in ("en", "zh"):
                        by_language[f"{lang}-{shape}"] = evaluate(
                            rankings,
                            {
                                q: r
                                for q, r in data.qrels["test"].items()
                                if q[:2] == lang and next(iter(r)).startswith(f"mixed-{shape}")
                            },
                        )
                rows[configuration] = by_language
                for lang, scores in by_language.items():
                    for metric, value in scores.items():
                        figures[f"{name}/{lang}-questions/{metric}/{configuration}"] = value
        finally:
            ctx.close()
        report[label] = rows
        print(json.dumps({label: rows}, indent=1), flush=True)
    report["headline"] = figures
    suffix = f"-md{args.mixed_distractors}" if args.mixed_distractors else ""
    write_json(RESULTS / f"retrieval_mixed{suffix}.json", report)
    if not args.no_summary:
        merge_summary(figures)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
