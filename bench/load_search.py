"""Search under load, as a user's integration would see it: N concurrent clients against a
real ``zhiku serve`` on loopback, on SQLite and on PostgreSQL, before and after a change.

    python -m bench.load_search                                   # 400 docs, 400 searches a level
    python -m bench.load_search --docs 1000 --searches 400 --levels 1,4,16,64
    python -m bench.load_search --before HEAD --databases sqlite,postgresql
    python -m bench.load_search --variants after --profile 64     # py-spy on the server at N=64
    python -m bench.load_search --client lean     # clients on http.client threads (cheaper)

Each deployment is the embedded default (embedded Qdrant, in-process ingestion), on SQLite or
on PostgreSQL (``ZHIKU_DATABASE__URL``; a database of its own, dropped after). ``--before REF``
also runs the same measure on that commit's code (``git archive``, read-only, into a temporary
folder), one after the other in the same run, so the two sides share the machine's load.

Per deployment: ``--docs`` SciFact records are uploaded and indexed in the measured tenant
(the issue's 7k take a while on these machines: say how many), the first search is made outside
the clock, then for each N in ``--levels`` N threads (each its own connection, as separate
clients are) make ``--searches`` searches between them, or stop at ``--level-s``. Queries are
the SciFact titles, cycled. Reported per level: searches/s, p50/p95/p99/max latency, errors
(any answer but 200, or none); and throughput at the top level as a share of the peak.

Request rate limits are switched off (``ZHIKU_RATE_LIMITS__ENABLED=false``): this measures the
server's capacity, not its refusals.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench.common import (
    REPO_ROOT,
    load_average,
    machine_info,
    markdown_table,
    percentile,
    shared_data_dir,
    write_json,
)
from bench.corpora import SourceDoc, scifact
from bench.http_ingest import client, upload, wait_until
from bench.http_stack import (
    Stack,
    _create_database,
    _drop_database,
    start_stack,
    stop_stack,
)

RESULTS = REPO_ROOT / "bench" / "results"
CLIENT_PROCESSES = 4


def code_of(ref: str) -> Path:
    """A read-only copy of ``ref``'s tracked files (``git archive``; the checkout is untouched)."""
    folder = Path(tempfile.mkdtemp(prefix=f"zhiku-bench-{ref.replace('/', '_')}-"))
    archive = subprocess.run(
        ["git", "archive", "--format=tar", ref], cwd=REPO_ROOT, capture_output=True, check=True
    )
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive.stdout, check=True)
    return folder


def _clients(
    url: str, key: str, clients: int, searches: int, cap_s: float, queries: list[str], at: float
) -> tuple[list[float], list[str], float]:
    """One client process: ``clients`` asyncio tasks, each its own connection, sharing
    ``searches``, from wall-clock ``at``. Returns latencies, errors and when the last ended."""
    import asyncio

    async def main() -> tuple[list[float], list[str], float]:
        left = itertools.count()
        cycle = itertools.cycle(queries)
        latencies: list[float] = []
        errors: list[str] = []
        headers = {"Authorization": f"Bearer {key}"}
        await asyncio.sleep(max(0.0, at - time.time()))
        deadline = time.perf_counter() + cap_s

        async def one() -> None:
            limits = httpx.Limits(max_connections=1)
            async with httpx.AsyncClient(
                base_url=url, headers=headers, timeout=60, limits=limits
            ) as http:
                while next(left) < searches and time.perf_counter() < deadline:
                    started = time.perf_counter()
                    try:
                        body = {"query": next(cycle), "limit": 10}
                        r = await http.post("/v1/search", json=body)
                        error = None if r.status_code == 200 else f"{r.status_code}: {r.text[:200]}"
                    except httpx.HTTPError as exc:
                        error = f"{type(exc).__name__}: {exc}"
                    if error is None:
                        latencies.append(time.perf_counter() - started)
                    else:
                        errors.append(error)

        await asyncio.gather(*(one() for _ in range(clients)))
        return latencies, errors, time.time()

    return asyncio.run(main())


def _lean_clients(
    url: str, key: str, clients: int, searches: int, cap_s: float, queries: list[str], at: float
) -> tuple[list[float], list[str], float]:
    """As ``_clients``, with threads on plain ``http.client`` keep-alive connections. Why:
    the clients share the server's two cores here, and httpx's asyncio clients took more of
    them than the server they measured (issue 14, 2026-12-02); a user's clients run on
    other machines. ``--client lean`` measures the server more than the load generator."""
    from bench.search_cpu import searches as run_searches

    time.sleep(max(0.0, at - time.time()))
    done = run_searches(url, key, queries, searches, clients, cap_s=cap_s)
    return done["latencies"], done["errors"], time.time()


def level(
    stack: Stack, clients: int, queries: list[str], searches: int, cap_s: float, lean: bool = False
) -> dict[str, Any]:
    """``clients`` concurrent clients share ``searches`` searches (or stop at ``cap_s``).
    They run in up to ``CLIENT_PROCESSES`` processes (asyncio tasks on httpx, or with
    ``lean`` threads on ``http.client``), so that the load generator's own GIL is not what
    limits a level."""
    processes = min(clients, CLIENT_PROCESSES)
    shares = [
        clients // processes + (1 if n < clients % processes else 0) for n in range(processes)
    ]
    at = time.time() + 1.0
    with ProcessPoolExecutor(processes) as pool:
        futures = [
            pool.submit(
                _lean_clients if lean else _clients,
                stack.url,
                stack.key,
                share,
                searches * share // clients,
                cap_s,
                queries[n::processes],
                at,
            )
            for n, share in enumerate(shares)
        ]
        parts = [future.result() for future in futures]
    latencies = [value for part in parts for value in part[0]]
    errors = [error for part in parts for error in part[1]]
    wall = max(part[2] for part in parts) - at
    return {
        "clients": clients,
        "searches": len(latencies),
        "errors": len(errors),
        "error_samples": errors[:5],
        "wall_s": round(wall, 2),
        "per_s": round(len(latencies) / wall, 1) if wall else 0.0,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1) if latencies else None,
        "p95_ms": round(percentile(latencies, 0.95) * 1000, 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1) if latencies else None,
        "max_ms": round(max(latencies) * 1000, 1) if latencies else None,
        "load_average": load_average(),
    }


def profile(stack: Stack, seconds: int, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy on the server (all threads, idle ones too: where they wait is the point)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        print("py-spy not installed: no profile", file=sys.stderr)
        return None
    return subprocess.Popen(
        [
            spy,
            "record",
            "--pid",
            str(stack.procs["server"].pid),
            "--duration",
            str(seconds),
            "--format",
            "raw",
            "--idle",
            "--threads",
            "--nonblocking",  # pausing ~80 threads 100 times a second would slow the server
            "--output",
            str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def seed(stack: Stack, docs: list[SourceDoc]) -> None:
    """Upload ``docs``, wait until every one is ready, and make the first search (503 while
    the retriever still opens) outside any clock."""
    ids, _, errors = upload(stack, stack.key, docs, 20, 2)
    if errors:
        raise RuntimeError(f"seeding failed: {errors[:3]}")
    with client(stack, stack.key) as http:
        if not wait_until(http, len(ids), stack, 3600):
            raise TimeoutError("seeded documents not ready\n" + stack.log_tail())
        for _ in range(300):
            warm = http.post("/v1/search", json={"query": "warm up"}, timeout=900)
            if warm.status_code != 503:
                break
            time.sleep(1)
        warm.raise_for_status()


def measure(
    database: str, variant: str, root: Path, docs: list[SourceDoc], args: argparse.Namespace
) -> dict[str, Any]:
    env: dict[str, str] = {}
    if (root / "core" / "settings_rate_limits.py").exists():  # code that has rate limits
        env["ZHIKU_RATE_LIMITS__ENABLED"] = "false"
    if args.slots and variant != "before":
        env["ZHIKU_LIMITS__CONCURRENT_SEARCHES"] = str(args.slots)
    dbname = ""
    if database == "postgresql":
        dbname = f"zhiku_load_{os.getpid()}_{variant}_{int(time.time())}"
        _create_database(dbname)
        env["ZHIKU_DATABASE__URL"] = f"postgresql+psycopg://postgres@127.0.0.1:5432/{dbname}"
    print(f"[{time.strftime('%H:%M:%S')}] {database} {variant}: starting", file=sys.stderr)
    stack = start_stack("embedded", args.redis_db, keep=False, settings_env=env, root=root)
    try:
        seeded = time.perf_counter()
        seed(stack, docs)
        seed_s = round(time.perf_counter() - seeded, 1)
        queries = [d.data.decode("utf-8").split("\n", 1)[0][:200] for d in docs]
        levels = []
        for clients in args.levels:
            spy = None
            wanted = args.profile_before if variant == "before" else args.profile
            if clients == wanted:
                out = RESULTS / f"load_search_{database}_{variant}_{clients}.pyspy.txt"
                spy = profile(stack, int(args.level_s), out)
            lean = args.client == "lean"
            result = level(stack, clients, queries, args.searches, args.level_s, lean)
            if spy is not None:
                spy.wait(args.level_s + 30)
            print(f"  {database} {variant} N={clients}: {result}", file=sys.stderr)
            levels.append(result)
    finally:
        stop_stack(stack)
        if dbname:
            _drop_database(dbname)
    peak = max(r["per_s"] for r in levels)
    return {
        "database": database,
        "variant": variant,
        "documents": len(docs),
        "seed_s": seed_s,
        "levels": levels,
        "peak_per_s": peak,
        "top_share_of_peak": round(levels[-1]["per_s"] / peak, 2) if peak else 0.0,
    }


def report(results: list[dict[str, Any]]) -> str:
    rows = [
        [
            r["database"],
            r["variant"],
            lv["clients"],
            lv["per_s"],
            lv["p50_ms"],
            lv["p95_ms"],
            lv["p99_ms"],
            lv["errors"],
            lv["load_average"][0],
        ]
        for r in results
        for lv in r["levels"]
    ]
    headers = ["database", "code", "clients", "searches/s", "p50 ms", "p95 ms", "p99 ms"]
    return markdown_table([*headers, "errors", "load 1m"], rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=400)
    parser.add_argument("--searches", type=int, default=400, help="per level")
    parser.add_argument("--level-s", type=float, default=60.0, help="a level's time cap")
    parser.add_argument("--levels", default="1,4,16,64")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--before", default="", help="a git ref to measure beside this checkout")
    parser.add_argument("--variants", default="before,after")
    parser.add_argument("--profile", type=int, default=0, help="py-spy the server at this N")
    parser.add_argument("--profile-before", type=int, default=0)
    parser.add_argument("--redis-db", type=int, default=5)
    parser.add_argument("--slots", type=int, default=0, help="limits.concurrent_searches")
    parser.add_argument(
        "--client", choices=["httpx", "lean"], default="httpx", help="see _lean_clients"
    )
    parser.add_argument("--out", default=str(RESULTS / "load_search.json"))
    args = parser.parse_args(argv)
    args.levels = [int(n) for n in args.levels.split(",")]
    docs = scifact(shared_data_dir(), limit=args.docs)
    variants = [v for v in args.variants.split(",") if v != "before" or args.before]
    before_root = code_of(args.before) if args.before and "before" in variants else None
    results = []
    info = machine_info()
    try:
        for database in args.databases.split(","):
            for variant in variants:
                root = before_root if variant == "before" and before_root else REPO_ROOT
                results.append(measure(database, variant, root, docs, args))
    finally:
        if before_root is not None:
            shutil.rmtree(before_root, ignore_errors=True)
    info["load_average_at_end"] = load_average()
    write_json(Path(args.out), {"machine": info, "args": vars(args), "results": results})
    print(report(results))
    for r in results:
        print(f"{r['database']} {r['variant']}: top level at {r['top_share_of_peak']:.0%} of peak")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
