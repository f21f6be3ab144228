"""The questions of :mod:`bench.citation_rate`: each with the passages it is answered from
(the relevant ones and the distractors a search would put beside them), on a tuning or a
test split of xquad-r-zh (Chinese) and SciFact (English)."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from bench.common import shared_data_dir
from bench.retrieval_data import half_split
from core.text_terms import overlap_terms
from retrieval.context import Passage

# A SciFact abstract is cut here (about 350 tokens), as a chunk of it would be.
MAX_PASSAGE_CHARS = 1400


@dataclass(frozen=True)
class Question:
    id: str
    language: str  # "zh" or "en"
    dataset: str
    text: str
    answers: tuple[str, ...]  # strings a correct answer holds (xquad); empty for SciFact
    passages: tuple[tuple[str, str, bool], ...]  # (title, text, relevant)
    answerable: bool


def _jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _qrels(path: Path) -> dict[str, set[str]]:
    relevant: dict[str, set[str]] = {}
    for line in path.read_text().splitlines()[1:]:
        query, doc, score = line.split("\t")
        if int(score) > 0:
            relevant.setdefault(query, set()).add(doc)
    return relevant


@cache
def terms_of(text: str) -> frozenset[str]:
    return frozenset(overlap_terms(text))


def _overlap(question: str, text: str) -> int:
    return len(terms_of(question) & terms_of(text))


def _build(
    qid: str, language: str, dataset: str, question: str, answers: Sequence[str],
    relevant: list[dict[str, Any]], pool: list[dict[str, Any]], distractors: int,
    answerable: bool, max_chars: int = MAX_PASSAGE_CHARS,
) -> Question:  # fmt: skip
    chosen = sorted(pool, key=lambda d: -_overlap(question, d["text"]))[:distractors]
    passages = [(d["title"], d["text"][:max_chars], True) for d in relevant]
    passages += [(d["title"], d["text"][:max_chars], False) for d in chosen]
    if not answerable:
        passages = [p for p in passages if not p[2]]
    random.Random(qid).shuffle(passages)
    return Question(qid, language, dataset, question, tuple(answers), tuple(passages), answerable)


def xquad_questions(
    count: int, unanswerable: int, distractors: int, split: str = "all"
) -> list[Question]:
    """Every 7th question of ``split`` (spread over the articles), its sentence and the
    article's sentences nearest to it; the last ``unanswerable`` without the relevant sentence.
    xquad-r-zh ships one split: "tune" is its dev half, "test" its test half (the halves the
    retrieval benchmarks use), "all" both (the 2026-12-01 runs)."""
    root = shared_data_dir() / "xquad-r-zh"
    corpus = {d["_id"]: d for d in _jsonl(root / "corpus.jsonl")}
    qrels = _qrels(root / "qrels" / "test.tsv")
    if split != "all":
        dev, test = half_split({q: {} for q in qrels}, "xquad-r-zh")
        qrels = {q: d for q, d in qrels.items() if q in (dev if split == "tune" else test)}
    step = 7 if split == "all" else 3
    queries = [q for q in _jsonl(root / "queries.jsonl") if q["_id"] in qrels][::step]
    questions = []
    for index, query in enumerate(queries[: count + unanswerable]):
        relevant = [corpus[d] for d in sorted(qrels[query["_id"]])]
        titles = {d["title"] for d in relevant}
        pool = [
            d
            for d in corpus.values()
            if d["title"] in titles and d["_id"] not in qrels[query["_id"]]
        ]
        questions.append(
            _build(
                query["_id"], "zh", "xquad-r-zh", query["text"], query["metadata"]["answers"],
                relevant, pool, distractors, answerable=index < count,
            )
        )  # fmt: skip
    return questions


def scifact_questions(
    count: int,
    unanswerable: int,
    distractors: int,
    max_chars: int = MAX_PASSAGE_CHARS,
    split: str = "test",
) -> list[Question]:
    """Claims with evidence, asked as questions ("Is it true that …?"), each with its
    abstracts and the corpus' abstracts sharing the most terms with it. "tune" asks train
    claims, anything else test claims."""
    root = shared_data_dir() / "scifact"
    corpus = {d["_id"]: d for d in _jsonl(root / "corpus.jsonl")}
    qrels = _qrels(root / "qrels" / ("train.tsv" if split == "tune" else "test.tsv"))
    queries = [q for q in _jsonl(root / "queries.jsonl") if q["_id"] in qrels and q["metadata"]]
    questions = []
    for index, query in enumerate(queries[: count + unanswerable]):
        claim = query["text"].strip().rstrip(".")
        asked = f"Is it true that {claim[0].lower()}{claim[1:]}?"
        relevant = [corpus[d] for d in sorted(qrels[query["_id"]]) if d in corpus]
        pool = [d for d in corpus.values() if d["_id"] not in qrels[query["_id"]]]
        questions.append(
            _build(
                query["_id"], "en", "scifact", asked, (), relevant, pool, distractors,
                answerable=index < count, max_chars=max_chars,
            )
        )  # fmt: skip
    return questions


def passages_of(question: Question) -> list[Passage]:
    return [
        Passage(
            number=n,
            doc_id=f"doc-{n}",
            version=1,
            title=title,
            filename=title,
            page=None,
            page_end=None,
            section_path=(),
            text=text,
            chunk_ids=[f"c{n}"],
            positions=[0],
            score=1.0,
        )
        for n, (title, text, _) in enumerate(question.passages, start=1)
    ]
