"""Chat and search under load together, answers from the real model, and a Prometheus scrape
of /metrics during the run.

    python -m bench.load_chat --database sqlite                    # levels 1,4,16,64, 40 s each
    python -m bench.load_chat --database postgresql --level-s 30 --max-tokens 48

A real ``zhiku serve`` on loopback as a new user runs it (the embedded default: embedded
Qdrant, in-process ingestion, and its own llama.cpp child serving the packaged model with the
shipped warm-up and passage budget), on SQLite or on PostgreSQL (a database of its own,
dropped after). Only the answer length is cut (``ZHIKU_LLM__LOCAL__MAX_TOKENS``) so answers
finish inside a level. Rate limits and the answer caps stay at their defaults: on a CPU the
model answers one question at a time, and the answer admission (one generating, one waiting:
``llm.answers.queue_per_slot``) refuses the rest with 429 and Retry-After. That is a
correct outcome; anything else (a 5xx, a stream without ``done``, a 429 without Retry-After,
a timeout) is an error. ``--queue-per-slot 3`` admits four answers to the one slot, as the
tenant's cap alone did before the admission counted the model's slots.

The documents: the 48 xquad-r-zh articles and SciFact abstracts (``bench.first_token``).
Chat questions alternate Chinese (xquad-r-zh) and English (SciFact claims); searches are the
same questions and the SciFact titles. At each N, N users (each its own API key) each run a
chat client (a refused question waits its Retry-After, as a client should) and a search client
(no pause) together for ``--level-s`` seconds; a chat still
streaming then is waited for and counted. Reported per level: chats answered / refused /
errors, time to the first token and to ``done`` for answered chats, the 429s' latency, and
searches/s with p50/p95/p99. Halfway through the top level /metrics is scraped once, as
Prometheus would, and the families present with samples are checked against issue 14's list.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.common import load_average, machine_info, markdown_table, percentile, write_json
from bench.first_token import scifact, wait_for_model, xquad
from bench.http_stack import Stack, _create_database, _drop_database, start_stack, stop_stack
from bench.load_search import RESULTS, seed

# The series issue 14 asks to see in a scrape during the load run.
WANTED = {
    "zhiku_http_request_duration_seconds": "request latency by route",
    "zhiku_ingest_stage_duration_seconds": "ingestion stage durations",
    "zhiku_ingest_queue_depth": "queue depth",
    "zhiku_retrieval_stage_duration_seconds": "retrieval latency by stage",
    "zhiku_llm_tokens_total": "LLM tokens",
    "zhiku_llm_time_to_first_token_seconds": "time to first token",
    "zhiku_llm_errors_total": "errors by backend",
}
# A client's patience: the embedded model's own read timeout (300 s) and then some.
CLIENT_TIMEOUT_S = 330.0


@dataclass
class Result:
    outcome: str  # "answered", "429", or "error: …"
    seconds: float
    ended: float = 0.0  # time.monotonic() at its end
    first_token_s: float | None = None
    retry_after_s: float = 0.0
    answer_outcome: str = ""  # the done event's outcome ("answered", "no_sources", …)


def chat_once(http: httpx.Client, question: str) -> Result:
    started = time.perf_counter()
    first: float | None = None
    event, done = "", ""
    try:
        with http.stream("POST", "/v1/chat", json={"message": question}) as r:
            if r.status_code == 429:
                r.read()
                after = r.headers.get("Retry-After")
                took = time.perf_counter() - started
                if not after:
                    return Result("error: 429 without Retry-After", took)
                return Result("429", took, retry_after_s=float(after))
            if r.status_code != 200:
                r.read()
                took = time.perf_counter() - started
                return Result(f"error: {r.status_code} {r.text[:80]}", took)
            for line in r.iter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "token" and first is None:
                    first = time.perf_counter() - started
                elif line.startswith("data: ") and event == "done":
                    done = json.loads(line[6:]).get("outcome", "?")
                elif line.startswith("data: ") and event == "error":
                    return Result(f"error: stream {line[6:86]}", time.perf_counter() - started)
    except httpx.HTTPError as exc:
        return Result(f"error: {type(exc).__name__}", time.perf_counter() - started)
    took = time.perf_counter() - started
    if not done:
        return Result("error: stream ended without done", took)
    return Result("answered", took, first_token_s=first, answer_outcome=done)


def search_once(http: httpx.Client, query: str) -> Result:
    started = time.perf_counter()
    try:
        r = http.post("/v1/search", json={"query": query})
    except httpx.HTTPError as exc:
        return Result(f"error: {type(exc).__name__}", time.perf_counter() - started)
    took = time.perf_counter() - started
    if r.status_code == 200:
        return Result("answered", took)
    if r.status_code == 429 and r.headers.get("Retry-After"):
        return Result("429", took)
    return Result(f"error: {r.status_code} {r.text[:80]}", took)


def _ms(values: list[float], q: float) -> float | None:
    return round(percentile(values, q) * 1000) if values else None


def summary(n: int, chats: list[Result], searches: list[Result], started: float) -> dict[str, Any]:
    """Searches per second over the searches' own span (they stop at the level's end; the
    level then waits for the chats still streaming)."""
    wall = time.monotonic() - started
    search_s = max((r.ended for r in searches), default=started) - started
    answered = [r for r in chats if r.outcome == "answered"]
    refused = [r.seconds for r in chats if r.outcome == "429"]
    firsts = [r.first_token_s for r in answered if r.first_token_s is not None]
    found = [r.seconds for r in searches if r.outcome == "answered"]
    errors = [r.outcome for r in chats + searches if r.outcome not in ("answered", "429")]
    outcomes: dict[str, int] = {}
    for r in answered:
        outcomes[r.answer_outcome] = outcomes.get(r.answer_outcome, 0) + 1
    return {
        "clients": n,
        "wall_s": round(wall, 1),
        "search_s": round(search_s, 1),
        "chat": {
            "asked": len(chats),
            "answered": len(answered),
            "refused_429": len(refused),
            "errors": sum(r.outcome not in ("answered", "429") for r in chats),
            "done_outcomes": outcomes,
            "first_token_p50_ms": _ms(firsts, 0.50),
            "first_token_p95_ms": _ms(firsts, 0.95),
            "first_token_p99_ms": _ms(firsts, 0.99),
            "done_p50_ms": _ms([r.seconds for r in answered], 0.50),
            "done_p95_ms": _ms([r.seconds for r in answered], 0.95),
            "done_p99_ms": _ms([r.seconds for r in answered], 0.99),
            "refused_p50_ms": _ms(refused, 0.50),
            "refused_p95_ms": _ms(refused, 0.95),
            "refused_p99_ms": _ms(refused, 0.99),
            # What the refusals told the clients to wait (Retry-After, seconds).
            "retry_after_s": sorted({r.retry_after_s for r in chats if r.outcome == "429"}),
        },
        "search": {
            "made": len(searches),
            "per_s": round(len(found) / search_s, 1) if search_s > 0 else 0.0,
            "refused_429": sum(r.outcome == "429" for r in searches),
            "errors": sum(r.outcome not in ("answered", "429") for r in searches),
            "p50_ms": _ms(found, 0.50),
            "p95_ms": _ms(found, 0.95),
            "p99_ms": _ms(found, 0.99),
        },
        "error_samples": errors[:8],
        "load_average": load_average(),
    }


def scrape(stack: Stack) -> dict[str, Any]:
    """One scrape from loopback, as a local Prometheus (no token configured)."""
    started = time.perf_counter()
    text = httpx.get(f"{stack.url}/metrics", timeout=30).text
    took = time.perf_counter() - started
    sampled = {line.split("{")[0].split(" ")[0] for line in text.splitlines()}
    declared = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")}

    def has_samples(family: str) -> bool:
        return any(n == family or n.startswith(family + "_") for n in sampled)

    return {
        "seconds": round(took, 3),
        "bytes": len(text),
        "declared": {family: family in declared for family in WANTED},
        "with_samples": {family: has_samples(family) for family in WANTED},
        "llm_lines": [line for line in text.splitlines() if line.startswith("zhiku_llm_")][:40],
        # The answering model's admission: answers generating and waiting, its capacity.
        "answer_lines": [line for line in text.splitlines() if line.startswith("zhiku_llm_answer")],
    }


def level(
    stack: Stack, keys: list[str], questions: list[str], queries: list[str], n: int,
    seconds: float, scrape_now: bool,
) -> dict[str, Any]:  # fmt: skip
    stop = time.monotonic() + seconds
    chats: list[Result] = []
    searches: list[Result] = []
    scraped: dict[str, Any] = {}

    def chat_client(i: int) -> None:
        with httpx.Client(
            base_url=stack.url,
            headers={"Authorization": f"Bearer {keys[i]}"},
            timeout=CLIENT_TIMEOUT_S,
        ) as http:
            j = i
            while time.monotonic() < stop:
                result = chat_once(http, questions[j % len(questions)])
                result.ended = time.monotonic()
                chats.append(result)
                j += n
                if result.outcome == "429":  # told when to come back: wait, within the level
                    time.sleep(max(0.0, min(result.retry_after_s, stop - time.monotonic())))

    def search_client(i: int) -> None:
        with httpx.Client(
            base_url=stack.url, headers={"Authorization": f"Bearer {keys[i]}"}, timeout=60
        ) as http:
            j = i
            while time.monotonic() < stop:
                result = search_once(http, queries[j % len(queries)])
                result.ended = time.monotonic()
                searches.append(result)
                j += n

    def scraper() -> None:
        time.sleep(seconds / 2)
        scraped.update(scrape(stack))

    threads = [threading.Thread(target=chat_client, args=(i,)) for i in range(n)]
    threads += [threading.Thread(target=search_client, args=(i,)) for i in range(n)]
    if scrape_now:
        threads.append(threading.Thread(target=scraper))
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    out = summary(n, chats, searches, started)
    if scraped:
        out["scrape"] = scraped
    return out


def make_keys(stack: Stack, count: int) -> list[str]:
    """``count`` users, each with a key, through the admin API (one CLI process each
    would take minutes here)."""
    keys = []
    with httpx.Client(
        base_url=stack.url, headers={"Authorization": f"Bearer {stack.key}"}, timeout=60
    ) as http:
        for i in range(count):
            user = http.post("/v1/admin/users", json={"name": f"chat{i}"})
            user.raise_for_status()
            key = http.post(f"/v1/admin/users/{user.json()['id']}/keys", json={"name": "load"})
            key.raise_for_status()
            keys.append(key.json()["key"])
    return keys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--levels", default="1,4,16,64")
    parser.add_argument("--level-s", type=float, default=40.0)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--questions", type=int, default=24, help="per language")
    parser.add_argument("--distractors", type=int, default=150, help="SciFact abstracts")
    parser.add_argument(
        "--queue-per-slot", type=int, default=None,
        help="ZHIKU_LLM__ANSWERS__QUEUE_PER_SLOT (default: the shipped 1); 3 admits 4 answers"
        " to the embedded model's one slot, as the tenant cap alone did before",
    )  # fmt: skip
    parser.add_argument("--redis-db", type=int, default=6)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    levels = [int(n) for n in args.levels.split(",")]
    rng = random.Random(14)
    zh_docs, zh_questions = xquad(args.questions, rng)
    en_docs, en_questions = scifact(args.questions, args.distractors, rng)
    docs = zh_docs + en_docs
    questions = [q.text for pair in zip(zh_questions, en_questions, strict=True) for q in pair]
    titles = [d.data.decode("utf-8").split("\n", 1)[0][:200] for d in en_docs]
    queries = [q for pair in zip(questions, titles, strict=False) for q in pair]
    env = {
        "ZHIKU_LLM__LOCAL__ENABLED": "true",
        "ZHIKU_LLM__LOCAL__MAX_TOKENS": str(args.max_tokens),
    }
    if args.queue_per_slot is not None:
        env["ZHIKU_LLM__ANSWERS__QUEUE_PER_SLOT"] = str(args.queue_per_slot)
    dbname = ""
    if args.database == "postgresql":
        dbname = f"zhiku_load_chat_{os.getpid()}_{int(time.time())}"
        _create_database(dbname)
        env["ZHIKU_DATABASE__URL"] = f"postgresql+psycopg://postgres@127.0.0.1:5432/{dbname}"
    started = time.monotonic()
    stack = start_stack("embedded", args.redis_db, keep=False, settings_env=env)
    try:
        seed(stack, docs)
        seeded_s = round(time.monotonic() - started, 1)
        model_s = wait_for_model(stack)
        keys = make_keys(stack, max(levels))
        print(f"{args.database}: {len(docs)} docs seeded in {seeded_s} s, model +{model_s} s",
              flush=True)  # fmt: skip
        results = []
        for n in levels:
            result = level(stack, keys, questions, queries, n, args.level_s, n == levels[-1])
            stack.check_alive()
            print(f"N={n}: {json.dumps({k: v for k, v in result.items() if k != 'scrape'})}",
                  flush=True)  # fmt: skip
            results.append(result)
    finally:
        stop_stack(stack)
        if dbname:
            _drop_database(dbname)
    rows = [
        [r["clients"], c["answered"], c["refused_429"], c["errors"], c["first_token_p50_ms"],
         c["first_token_p95_ms"], c["done_p50_ms"], c["done_p95_ms"], c["refused_p99_ms"],
         s["per_s"], s["p50_ms"], s["p95_ms"], s["p99_ms"], s["errors"], r["load_average"][0]]
        for r in results for c, s in [(r["chat"], r["search"])]
    ]  # fmt: skip
    print(markdown_table(
        ["N", "chats answered", "429", "chat errors", "TTFT p50", "TTFT p95", "done p50",
         "done p95", "429 p99", "searches/s", "p50", "p95", "p99", "search errors", "load"],
        rows))  # fmt: skip
    print(json.dumps({k: v for k, v in results[-1].get("scrape", {}).items() if k != "llm_lines"}))
    out = args.out or RESULTS / f"load-chat-{args.database}-2026-12-03.json"
    write_json(out, {"machine": machine_info(), "args": {**vars(args), "out": str(out)},
                     "documents": len(docs), "seeded_s": seeded_s, "model_s": model_s,
                     "results": results})  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
