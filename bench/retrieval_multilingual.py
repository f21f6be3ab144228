"""One multilingual model for all text, or named vectors per model? Measured on SciFact and
xquad-r-zh with the product's own embedders, store and BM25 encoder.

    nice -n 10 python -m bench.retrieval_multilingual [--english ""] \\
        [--multilingual packaged:multilingual-e5-small] [--datasets xquad-r-zh,scifact]

For each dataset it opens two contexts of :mod:`bench.retrieval_research` over the same chunks
(one per dense model, each in its own embedded store; BM25 legs are the same), runs that
module's fusion study on each (sparse, dense, RRF, DBSF and min-max grids, tuned on SciFact
``train`` / xquad-r-zh ``dev-half``), and then a three-way DBSF of BM25 + both dense legs
(client-side, as named vectors in one collection would give), its two dense weights tuned
on the same split. Vectors are cached under ``~/.cache/zhiku/bench/retrieval``. Writes
``bench/results/retrieval_multilingual.{json,md}`` and merges the headline figures into
``bench/results/summary.json``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from typing import Any

from bench.common import machine_info, merge_summary, shared_data_dir, write_json
from bench.retrieval_data import Dataset, load_beir, product_dense
from bench.retrieval_eval import dbsf
from bench.retrieval_research import (
    RESULTS,
    Context,
    Table,
    _silent,
    for_queries,
    fuse,
    fusion_study,
    open_context,
    render,
)

TUNE_SPLIT = {"scifact": "train", "xquad-r-zh": "dev-half"}
REPORT_SPLITS = {"scifact": ("train", "test"), "xquad-r-zh": ("dev-half", "test-half")}
_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0)


def corpus_subset(data: Dataset, documents: int) -> Dataset:
    """Every judged document (train and test) plus a fixed pseudo-random sample of the others
    up to ``documents``: a smaller corpus when the machine cannot embed the whole in time.
    Scores on it are higher than on the whole corpus for every configuration alike; compare
    configurations, not absolute figures."""
    judged = {d for split in data.qrels.values() for rel in split.values() for d in rel}
    others = sorted(
        (d for d in data.texts if d not in judged),
        key=lambda d: hashlib.sha1(f"subset{d}".encode()).digest(),
    )
    keep = judged | set(others[: max(0, documents - len(judged))])
    data.texts = {d: t for d, t in data.texts.items() if d in keep}
    data.titles = {d: t for d, t in data.titles.items() if d in keep}
    data.corpus_digest = hashlib.sha256(f"{data.corpus_digest}|{documents}".encode()).hexdigest()
    data.corpus_digest = data.corpus_digest[:16]
    return data


def three_way(
    english: Context, multilingual: Context, qid: str, depth: int, w_en: float, w_multi: float
) -> list[tuple[int, float]]:
    """DBSF of BM25 and both dense legs; a weight of 0 leaves that leg out."""
    legs = [english.sparse_legs[qid][:depth]]
    weights = [1.0]
    for ctx, weight in ((english, w_en), (multilingual, w_multi)):
        if weight:
            legs.append(ctx.dense_legs[qid][:depth])
            weights.append(weight)
    return dbsf(legs, weights)


def three_way_study(
    english: Context, multilingual: Context, table: Table, tune_split: str
) -> dict[str, Any]:
    grid = [
        {"depth": depth, "w_en": w_en, "w_multi": w_multi}
        for depth in (100, 200)
        for w_en in _WEIGHTS
        for w_multi in _WEIGHTS
        if w_en or w_multi
    ]
    scored = []
    for settings in grid:
        ranked = for_queries(
            english,
            lambda q, s=settings: three_way(english, multilingual, q, **s),
        )
        scored.append((settings, _silent(english, ranked)))
    best, scores = max(scored, key=lambda pair: pair[1][tune_split]["ndcg@10"])
    label = (
        f"three-way DBSF on {tune_split}: prefetch {best['depth']}, "
        f"weights bm25 1 / english {best['w_en']} / multilingual {best['w_multi']}"
    )
    table.add(
        english, label, for_queries(english, lambda q: three_way(english, multilingual, q, **best))
    )
    # Equal weights, untuned: what three named vectors with the engine's DBSF would give.
    equal = for_queries(english, lambda q: three_way(english, multilingual, q, 200, 1.0, 1.0))
    equal_scores = table.add(english, "three-way DBSF prefetch 200, equal weights", equal)
    return {"best": best, "scores": scores, "equal_weights": equal_scores}


def headline(
    name: str,
    english: Context,
    multilingual: Context,
    studies: dict[str, dict[str, Any]],
    three: dict[str, Any],
) -> dict[str, float]:
    """``dataset/split/metric/configuration`` figures for ``summary.json``."""
    configurations = {
        "sparse": _silent(english, english.sparse_legs),
        "minilm-dense": _silent(english, english.dense_legs),
        "e5-dense": _silent(multilingual, multilingual.dense_legs),
        "minilm-dbsf": _silent(
            english, for_queries(english, lambda q: fuse(english, q, studies["english"]["dbsf"]))
        ),
        "e5-dbsf": _silent(
            multilingual,
            for_queries(multilingual, lambda q: fuse(multilingual, q, studies["multi"]["dbsf"])),
        ),
        "minilm-e5-dbsf3": three["scores"],
        "minilm-e5-dbsf3-equal": three["equal_weights"],
    }
    figures = {}
    for configuration, scores in configurations.items():
        for split in REPORT_SPLITS[name]:
            for metric, value in scores[split].items():
                figures[f"{name}/{split}/{metric}/{configuration}"] = round(value, 4)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="xquad-r-zh,scifact")
    parser.add_argument("--english", default="", help="EmbeddingSettings.model of the first")
    parser.add_argument("--multilingual", default="packaged:multilingual-e5-small")
    parser.add_argument("--out", default="retrieval_multilingual")
    parser.add_argument("--no-summary", action="store_true", help="leave summary.json alone")
    parser.add_argument(
        "--scifact-docs", type=int, default=0, help="SciFact: judged documents + others up to N"
    )
    args = parser.parse_args()

    report: dict[str, Any] = {"machine": machine_info(), "started": time.strftime("%F %T")}
    table = Table()
    models = {"english": product_dense(args.english), "multi": product_dense(args.multilingual)}
    figures: dict[str, float] = {}
    for name in args.datasets.split(","):
        title = name == "scifact"
        data = None
        if name == "scifact" and args.scifact_docs:
            data = corpus_subset(
                load_beir(shared_data_dir() / name, with_title=True), args.scifact_docs
            )
            report["scifact_subset"] = {"documents": len(data.texts), "asked": args.scifact_docs}
        contexts = {
            key: open_context(name, model, with_title=title, data=data)
            for key, model in models.items()
        }
        try:
            studies = {
                key: fusion_study(ctx, table, TUNE_SPLIT[name])["by_kind"]
                for key, ctx in contexts.items()
            }
            three = three_way_study(contexts["english"], contexts["multi"], table, TUNE_SPLIT[name])
            report[name] = {"fusion": studies, "three_way": three}
            found = headline(name, contexts["english"], contexts["multi"], studies, three)
            if data is not None:  # a subset's figures must not pass for the whole corpus's
                found = {
                    k.replace(name, f"{name}-subset{len(data.texts)}", 1): v
                    for k, v in found.items()
                }
            figures.update(found)
        finally:
            for ctx in contexts.values():
                ctx.close()
        report["rows"] = table.rows
        report["headline"] = figures
        write_json(RESULTS / f"{args.out}.json", report)
        (RESULTS / f"{args.out}.md").write_text(render(table.rows) + "\n")
    if not args.no_summary:
        merge_summary(figures)
    print(render(table.rows))
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
