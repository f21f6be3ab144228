"""Time to the first token on the CPU default (issue 12), before and after, in one run.

Two deployments of ``zhiku serve`` (embedded default, each with its own llama.cpp child serving
the packaged model) run side by side; they differ only in the settings under test. Both get
the same uploads through ``POST /v1/documents``: the 48 xquad-r-zh articles (one .txt each,
its sentences as lines) and SciFact abstracts (the questions' evidence and distractors). Then
each question is asked through ``POST /v1/chat`` (SSE) of one deployment, then of the other,
the order alternating per question, one request at a time: both see the same machine load.

    python -m bench.first_token                        # 10 Chinese + 10 English questions
    python -m bench.first_token --questions 4 --distractors 100
    python -m bench.first_token --from-report bench/results/first-token-….json  # merge only

Per configuration: time to the first ``token`` event and to ``done``, p50/p95; and whether the
answer is right: Chinese (xquad-r-zh) holds the known answer; English (SciFact claims asked as
"is it true that …") says yes for a supported claim, no for a contradicted one. Citation
coverage: answered questions with at least one citation; citation hits: answered questions
citing a passage that holds the evidence (the gold sentence, or the abstract's title).
Citation precision: of every citation in answered questions, those whose passage is relevant
(SciFact: a chunk of an abstract qrels name; xquad-r-zh: a chunk holding the gold sentence or
an answer string): what ``bench.citation_rate`` measures on fixed passages, here through the
product's own search and ordering.
The machine is shared: compare the ratios, which the load average beside them qualifies.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import statistics
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.common import REPO_ROOT, machine_info, merge_summary
from bench.corpora import SourceDoc
from bench.http_ingest import client, upload, wait_until
from bench.http_stack import Stack, start_stack, stop_stack

DATA = REPO_ROOT.parent / "shared" / "data"
RESULTS = REPO_ROOT / "bench" / "results"
# The settings each configuration runs with (environment of its ``zhiku serve``).
CONFIGS: dict[str, dict[str, str]] = {
    # As before issue 12: no warm-up, the fixed 1,500-token passage budget.
    "before": {
        "ZHIKU_LLM__LOCAL__WARM_UP": "false",
        "ZHIKU_LLM__LOCAL__FIRST_TOKEN_TARGET_S": "0",
    },
    "after": {},  # the shipped defaults
    # As on 2026-12-01 after issue 12's first changes: one prompt thread, one whole chunk as
    # the floor (the focused cut then rarely applies).
    "one-thread-whole-chunk": {
        "ZHIKU_LLM__LOCAL__N_THREADS_BATCH": "1",
        "ZHIKU_LLM__LOCAL__MIN_CONTEXT_TOKENS": "300",
    },
}
YES = ("yes", "true", "correct", "supported", "support", "是的", "正确")
NO = ("no", "not", "false", "incorrect", "contradict", "does not", "doesn't", "不")


@dataclass
class Question:
    id: str
    language: str  # "zh" or "en"
    text: str
    answers: list[str]  # zh: any of these in the answer; en: ["yes"] or ["no"]
    evidence: list[str]  # text a cited passage must hold to count as a hit
    documents: list[str] = field(default_factory=list)  # relevant files (SciFact's abstracts)


@dataclass
class Asked:
    config: str
    question: str
    language: str
    ttft_s: float | None
    total_s: float
    answer: str
    outcome: str
    correct: bool
    cited: int
    citation_hit: bool
    passages: int
    passage_chars: int
    citations_relevant: int = 0  # citations whose passage is relevant (see ``relevant``)


def fold(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(c for c in folded if not c.isspace() and c not in ",，")


def xquad(count: int, rng: random.Random) -> tuple[list[SourceDoc], list[Question]]:
    root = DATA / "xquad-r-zh"
    sentences: dict[str, tuple[str, str]] = {}
    articles: dict[str, list[str]] = {}
    for line in (root / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line, strict=False)
        sentences[record["_id"]] = (record["title"], record["text"])
        articles.setdefault(record["title"], []).append(record["text"])
    gold: dict[str, str] = {}
    for line in (root / "qrels" / "test.tsv").read_text().splitlines()[1:]:
        query, doc, _ = line.split("\t")
        gold[query] = doc
    queries = [json.loads(line) for line in (root / "queries.jsonl").read_text().splitlines()]
    queries = [q for q in queries if q["_id"] in gold and q["metadata"].get("answers")]
    chosen = rng.sample(queries, count)

    def evidence(query: dict[str, Any]) -> list[str]:
        return [sentences[gold[query["_id"]]][1]]

    docs = [
        SourceDoc(f"{title}.txt", (title + "\n\n" + "\n".join(lines)).encode(), "txt")
        for title, lines in articles.items()
    ]
    questions = [
        Question(
            q["_id"], "zh", q["text"], q["metadata"]["answers"], [sentences[gold[q["_id"]]][1]]
        )
        for q in chosen
    ]
    return docs, questions


def scifact(
    count: int, distractors: int, rng: random.Random
) -> tuple[list[SourceDoc], list[Question]]:
    root = DATA / "scifact"
    corpus = {}
    for line in (root / "corpus.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        corpus[record["_id"]] = (record["title"], record["text"])
    queries = [json.loads(line) for line in (root / "queries.jsonl").read_text().splitlines()]
    labelled = []
    for q in queries:
        labels = {e["label"] for ev in q["metadata"].values() for e in ev}
        if len(labels) == 1 and q["metadata"]:
            labelled.append((q, labels.pop()))
    chosen = rng.sample(labelled, count)
    wanted = {doc for q, _ in chosen for doc in q["metadata"]}
    others = [d for d in corpus if d not in wanted]
    wanted |= set(rng.sample(others, distractors))
    docs = [
        SourceDoc(f"scifact-{d}.txt", f"{corpus[d][0]}\n\n{corpus[d][1]}".encode(), "txt")
        for d in sorted(wanted)
    ]
    questions = [
        Question(
            q["_id"],
            "en",
            f"Is it true that {q['text'][0].lower()}{q['text'][1:].rstrip('.')}?",
            ["yes" if label == "SUPPORT" else "no"],
            [corpus[d][0] for d in q["metadata"]],
            [f"scifact-{d}.txt" for d in q["metadata"]],
        )
        for q, label in chosen
    ]
    return docs, questions


def is_correct(question: Question, answer: str, outcome: str) -> bool:
    if outcome != "ok":
        return False
    if question.language == "zh":
        return any(fold(a) in fold(answer) for a in question.answers)
    words = answer.casefold().replace(",", " ").replace(".", " ").split()
    head = " ".join(words[:12])
    said_no = any(f" {n} " in f" {head} " for n in NO)
    said_yes = any(f" {y} " in f" {head} " for y in YES) and not said_no
    return said_yes if question.answers == ["yes"] else said_no


def is_relevant(question: Question, excerpt: str, filename: str) -> bool:
    """A cited passage is relevant when qrels say so: SciFact, a chunk of a relevant abstract;
    xquad-r-zh (qrels name a sentence), a chunk holding the gold sentence or an answer string,
    as ``bench.citation_rate`` counts it."""
    if question.language == "en":
        return filename in question.documents
    return any(fold(e)[:60] in excerpt for e in question.evidence) or any(
        fold(a) in excerpt for a in question.answers
    )


def ask(http: httpx.Client, config: str, question: Question) -> Asked:
    started = time.perf_counter()
    first: float | None = None
    event = ""
    text: list[str] = []
    sources: list[dict[str, Any]] = []
    citations: list[dict[str, Any]] = []
    outcome = "error"
    with http.stream("POST", "/v1/chat", json={"message": question.text}) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                if event == "token":
                    first = first or time.perf_counter()
                    text.append(data["text"])
                elif event == "sources":
                    sources = data["sources"]
                elif event == "citations":
                    citations = data["citations"]
                elif event == "done":
                    outcome = data["outcome"]
    total = time.perf_counter() - started
    answer = "".join(text)
    excerpts = {s["number"]: fold(s["excerpt"]) for s in sources}
    cited = [excerpts.get(c["number"], "") for c in citations]
    hit = any(fold(e)[:60] in c for c in cited for e in question.evidence)
    files = {s["number"]: s["filename"] for s in sources}
    relevant = sum(
        is_relevant(question, excerpts.get(c["number"], ""), files.get(c["number"], ""))
        for c in citations
    )
    return Asked(
        config, question.id, question.language,
        round(first - started, 2) if first else None, round(total, 2), answer, outcome,
        is_correct(question, answer, outcome), len(citations), hit,
        len(sources), sum(len(s["excerpt"]) for s in sources), relevant,
    )  # fmt: skip


def wait_for_model(stack: Stack, timeout_s: float = 600.0) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        stack.check_alive()
        checks = httpx.get(stack.url + "/health/ready", timeout=10).json().get("checks", {})
        if checks.get("answer_model") == "ok":
            return round(time.monotonic() - started, 1)
        time.sleep(1)
    raise TimeoutError(f"{stack.name}: the answer model did not start")


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))], 2)


def summarise(rows: list[Asked]) -> dict[str, Any]:
    ttft = [r.ttft_s for r in rows if r.ttft_s is not None]
    answered = [r for r in rows if r.outcome == "ok"]

    def share(selected: list[Asked], test: Any) -> float | None:
        return round(sum(map(test, selected)) / len(selected), 3) if selected else None

    return {
        "questions": len(rows),
        "ttft_p50_s": percentile(ttft, 0.5), "ttft_p95_s": percentile(ttft, 0.95),
        "total_p50_s": percentile([r.total_s for r in rows], 0.5),
        "total_p95_s": percentile([r.total_s for r in rows], 0.95),
        "accuracy": share(rows, lambda r: r.correct),
        "answered": share(rows, lambda r: r.outcome == "ok"),
        "citation_coverage": share(answered, lambda r: r.cited > 0),
        "citation_hit": share(answered, lambda r: r.citation_hit),
        # Of every citation in answered questions, those whose passage is relevant.
        "citation_precision": (
            round(sum(r.citations_relevant for r in answered) / cited, 3)
            if (cited := sum(r.cited for r in answered)) else None
        ),
        "mean_passages": round(statistics.mean(r.passages for r in rows), 2) if rows else None,
        "mean_passage_chars": round(statistics.mean([r.passage_chars for r in rows] or [0])),
    }  # fmt: skip


def merge_summary_of(report: dict[str, Any]) -> None:
    """Headline figures into bench/results/summary.json, all questions and per language."""
    figures: dict[str, float | None] = {}
    for config, summary in report["summaries"].items():
        name = "default" if config == "after" else config
        for metric, key in (
            ("ttft-p50-s", "ttft_p50_s"), ("ttft-p95-s", "ttft_p95_s"),
            ("total-p50-s", "total_p50_s"), ("accuracy", "accuracy"),
            ("citation-coverage", "citation_coverage"), ("citation-hit", "citation_hit"),
            ("citation-precision", "citation_precision"),
        ):  # fmt: skip
            figures[f"chat/cpu/{metric}/{name}"] = summary["all"].get(key)
            for lang in ("zh", "en"):
                figures[f"chat/cpu/{metric}/{name}-{lang}"] = summary.get(lang, {}).get(key)
    merge_summary(figures)


def write_report(report: dict[str, Any], configs: list[str], out: Path) -> None:
    rows = [Asked(**r) for r in report["rows"]]
    for config in configs:
        mine = [r for r in rows if r.config == config]
        report["summaries"][config] = {
            "all": summarise(mine),
            **{lang: summarise([r for r in mine if r.language == lang]) for lang in ("zh", "en")},
        }
    if "before" in configs and "after" in configs:
        before, after = report["summaries"]["before"]["all"], report["summaries"]["after"]["all"]
        report["ratios"] = {
            key: round(after[key] / before[key], 3)
            for key in ("ttft_p50_s", "ttft_p95_s", "total_p50_s")
            if before[key] and after[key]
        }
    report["load_mean"] = round(statistics.mean(report["load"]), 2) if report["load"] else None
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, ensure_ascii=False, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=10, help="per language")
    parser.add_argument("--distractors", type=int, default=300, help="SciFact abstracts")
    parser.add_argument("--configs", default="before,after")
    parser.add_argument("--redis-db", type=int, default=4)
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--no-summary", action="store_true")
    parser.add_argument(
        "--from-report", type=Path, default=None, help="only merge this run's figures"
    )
    args = parser.parse_args()
    if args.from_report is not None:  # a run cut short: its figures, written per question
        merge_summary_of(json.loads(args.from_report.read_text()))
        return
    rng = random.Random(args.seed)
    zh_docs, zh_questions = xquad(args.questions, rng)
    en_docs, en_questions = scifact(args.questions, args.distractors, rng)
    docs = zh_docs + en_docs
    questions = [q for pair in zip(zh_questions, en_questions, strict=True) for q in pair]
    configs = [c for c in args.configs.split(",") if c]
    out = args.out or RESULTS / f"first-token-{datetime.date.today().isoformat()}.json"
    report: dict[str, Any] = {
        "machine": machine_info(), "configs": {c: CONFIGS[c] for c in configs},
        "documents": len(docs), "rows": [], "summaries": {}, "load": [],
    }  # fmt: skip
    stacks: dict[str, Stack] = {}
    try:
        for config in configs:
            stacks[config] = start_stack("embedded", args.redis_db, False, settings_env={
                "ZHIKU_LLM__LOCAL__ENABLED": "true", **CONFIGS[config]})  # fmt: skip
            report.setdefault("model_start_s", {})[config] = wait_for_model(stacks[config])
            ids, _, errors = upload(stacks[config], stacks[config].key, docs, 50, 1)
            with client(stacks[config], stacks[config].key) as http:
                if errors or not wait_until(http, len(ids), stacks[config], 1800):
                    raise RuntimeError(f"{config}: upload failed: {errors[:3]}")
            print(f"{config}: ready, {len(ids)} documents", flush=True)
        for n, question in enumerate(questions):
            order = configs if n % 2 == 0 else configs[::-1]
            for config in order:
                with client(stacks[config], stacks[config].key) as http:
                    try:
                        row = ask(http, config, question)
                    except httpx.HTTPError as exc:  # a timeout under load: counted, not fatal
                        row = Asked(config, question.id, question.language, None, 0.0,
                                    f"{type(exc).__name__}: {exc}"[:200], "error", False, 0,
                                    False, 0, 0)  # fmt: skip
                report["rows"].append(asdict(row))
                report["load"].append(os.getloadavg()[0])
                print(f"{config:<7} {question.language} ttft {row.ttft_s}s total {row.total_s}s "
                      f"{'ok ' if row.correct else 'bad'} cited {row.cited} "
                      f"{row.answer[:60]!r}", flush=True)  # fmt: skip
            write_report(report, configs, out)  # after each question: a cut-short run counts
    finally:
        for stack in stacks.values():
            stop_stack(stack)
    write_report(report, configs, out)
    print(json.dumps({"summaries": report["summaries"], "ratios": report.get("ratios"),
                      "load_mean": report["load_mean"]}, indent=1))  # fmt: skip
    if not args.no_summary:
        merge_summary_of(report)
    print(f"written to {out}")


if __name__ == "__main__":
    main()
