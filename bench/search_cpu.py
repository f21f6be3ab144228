"""The server's CPU time per authenticated search: a real ``zhiku serve`` (embedded Qdrant,
in-process ingestion, on SQLite or PostgreSQL), ``--docs`` SciFact records seeded, then
``--searches`` ``POST /v1/search`` from ``--clients`` lean concurrent clients.

    python -m bench.search_cpu                                  # this checkout, SQLite
    python -m bench.search_cpu --before HEAD --databases sqlite,postgresql
    python -m bench.search_cpu --rounds 2 --profile             # py-spy the measured searches

Reported: the server process tree's CPU seconds (user + system, ``psutil``) over the measured
searches, divided by their number. Unlike throughput or latency, this figure hardly depends on
what else the (shared, two-core) machine is doing, so two changes can be compared on it. The
clients are threads on plain ``http.client`` keep-alive connections (no httpx, no asyncio):
their own CPU is small and is not counted anyway. ``--before REF`` measures that commit's code
too (``git archive``, as ``bench.load_search`` does), alternating with this checkout round by
round, so both sides share the machine's load; ``--after-files a.py,b.py`` measures only
those files of the checkout over that commit (a shared working tree holds others' changes).

Rate limits stay on, as deployed, with the search limits raised out of the way: their checks
cost CPU on every request and belong in the figure.
"""

from __future__ import annotations

import argparse
import http.client
import itertools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psutil

from bench.common import REPO_ROOT, load_average, machine_info, shared_data_dir, write_json
from bench.corpora import scifact
from bench.http_stack import Stack, _create_database, _drop_database, start_stack, stop_stack
from bench.load_search import code_of, seed

RESULTS = REPO_ROOT / "bench" / "results"
# Out of the way of the measured searches, yet still checked on each one.
RATE_ENV = {
    "ZHIKU_RATE_LIMITS__SEARCH__PER_KEY_PER_MINUTE": "1000000",
    "ZHIKU_RATE_LIMITS__SEARCH__PER_TENANT_PER_MINUTE": "1000000",
}


def spy(pid: int, out: Path, gil: bool) -> subprocess.Popen[bytes] | None:
    """py-spy on the server, on-CPU samples only (unlike ``bench.load_search.profile``: here
    where the CPU goes is the point, not where threads wait), until SIGINT. ``gil``: only the
    thread holding the GIL (a thread waiting to take it back after a native call otherwise
    looks busy in that call)."""
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(exe).exists():
        print("py-spy not installed: no profile", file=sys.stderr)
        return None
    command = [exe, "record", "--pid", str(pid), "--format", "raw", "--threads"]
    command += ["--nonblocking", "--rate", "200", "--output", str(out)]
    command += ["--gil"] if gil else []
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process and its live descendants."""
    root = psutil.Process(pid)
    total = 0.0
    for proc in [root, *root.children(recursive=True)]:
        try:
            times = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def searches(
    url: str, key: str, queries: list[str], count: int, clients: int, cap_s: float | None = None
) -> dict[str, Any]:
    """``count`` searches shared by ``clients`` threads, each on its own keep-alive
    connection, stopping after ``cap_s`` if given. Returns how many succeeded, the errors
    and the latencies."""
    parts = urlsplit(url)
    deadline = time.perf_counter() + cap_s if cap_s is not None else float("inf")
    left = itertools.count()
    cycle = itertools.cycle(queries)
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def run() -> None:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        try:
            while next(left) < count and time.perf_counter() < deadline:
                with lock:
                    body = json.dumps({"query": next(cycle), "limit": 10}).encode()
                started = time.perf_counter()
                try:
                    conn.request("POST", "/v1/search", body, headers)
                    response = conn.getresponse()
                    data = response.read()
                    error = None if response.status == 200 else f"{response.status}: {data[:200]!r}"
                except (OSError, http.client.HTTPException) as exc:
                    error = f"{type(exc).__name__}: {exc}"
                    conn.close()
                    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
                with lock:
                    if error is None:
                        latencies.append(time.perf_counter() - started)
                    else:
                        errors.append(error)
        finally:
            conn.close()

    threads = [threading.Thread(target=run) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"ok": len(latencies), "errors": errors, "latencies": latencies}


def start(database: str, variant: str, root: Path, args: argparse.Namespace) -> tuple[Stack, str]:
    env = dict(RATE_ENV)
    dbname = ""
    if database == "postgresql":
        dbname = f"zhiku_cpu_{os.getpid()}_{variant}_{int(time.time())}"
        _create_database(dbname)
        env["ZHIKU_DATABASE__URL"] = f"postgresql+psycopg://postgres@127.0.0.1:5432/{dbname}"
    print(f"[{time.strftime('%H:%M:%S')}] {database} {variant}: starting", file=sys.stderr)
    try:
        return start_stack(
            "embedded", args.redis_db, keep=False, settings_env=env, root=root
        ), dbname
    except BaseException:
        if dbname:
            _drop_database(dbname)
        raise


def measure_round(
    stack: Stack, queries: list[str], args: argparse.Namespace, spy_out: Path | None
) -> dict[str, Any]:
    # Outside the clock: the first searches of a round (connections, caches of the process).
    searches(stack.url, stack.key, queries[::7], 2 * args.clients, args.clients)
    pid = stack.procs["server"].pid
    spying = spy(pid, spy_out, args.gil) if spy_out is not None else None
    cpu0, wall0 = tree_cpu_s(pid), time.perf_counter()
    result = searches(stack.url, stack.key, queries, args.searches, args.clients)
    cpu = tree_cpu_s(pid) - cpu0
    wall = time.perf_counter() - wall0
    if spying is not None:
        spying.send_signal(signal.SIGINT)  # py-spy writes what it has on Ctrl-C
        spying.wait(60)
    lat = sorted(result["latencies"])
    ok = result["ok"]
    return {
        "searches": ok,
        "errors": len(result["errors"]),
        "error_samples": result["errors"][:3],
        "cpu_s": round(cpu, 2),
        "cpu_ms_per_search": round(1000 * cpu / ok, 2) if ok else None,
        "wall_s": round(wall, 2),
        "per_s": round(ok / wall, 1) if wall else 0.0,
        "p50_ms": round(1000 * lat[len(lat) // 2], 1) if lat else None,
        "load_average": load_average(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--searches", type=int, default=600, help="per round")
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=3, help="per variant, alternating")
    parser.add_argument("--databases", default="sqlite")
    parser.add_argument("--before", default="", help="a git ref to measure beside this checkout")
    parser.add_argument(
        "--after-files",
        default="",
        help="comma-separated paths: 'after' is --before (else HEAD) with these files of the "
        "checkout copied over it, not the whole checkout",
    )
    parser.add_argument("--profile", action="store_true", help="py-spy each variant's last round")
    parser.add_argument("--gil", action="store_true", help="profile: the GIL holder only")
    parser.add_argument("--redis-db", type=int, default=11)
    parser.add_argument("--out", default=str(RESULTS / "search_cpu.json"))
    args = parser.parse_args(argv)
    # Every measured search asks a title of its own (no answer of an earlier one to reuse);
    # only the first ``--docs`` records are seeded.
    records = scifact(shared_data_dir(), limit=args.docs + args.rounds * args.searches)
    docs = records[: args.docs]
    titles = [d.data.decode("utf-8").split("\n", 1)[0][:200] for d in records]
    before_root = code_of(args.before) if args.before else None
    after_root = REPO_ROOT
    if args.after_files:
        # A shared working tree may hold others' unfinished changes: measure only these.
        after_root = code_of(args.before or "HEAD")
        for name in args.after_files.split(","):
            target = after_root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO_ROOT / name, target)
    variants: list[tuple[str, Path]] = [("after", after_root)]
    if before_root is not None:
        variants.insert(0, ("before", before_root))
    results: list[dict[str, Any]] = []
    try:
        for database in args.databases.split(","):
            stacks: dict[str, tuple[Stack, str]] = {}
            try:
                for variant, root in variants:
                    stacks[variant] = start(database, variant, root, args)
                    seed(stacks[variant][0], docs)
                rounds: dict[str, list[dict[str, Any]]] = {v: [] for v, _ in variants}
                for n in range(args.rounds):
                    for variant, _ in variants:
                        last = args.profile and n == args.rounds - 1
                        out = RESULTS / f"search_cpu_{database}_{variant}.pyspy.txt"
                        queries = titles[n * args.searches : (n + 1) * args.searches]
                        r = measure_round(stacks[variant][0], queries, args, out if last else None)
                        print(f"  {database} {variant} round {n + 1}: {r}", file=sys.stderr)
                        rounds[variant].append(r)
                for variant, _ in variants:
                    per = [
                        r["cpu_ms_per_search"] for r in rounds[variant] if r["cpu_ms_per_search"]
                    ]
                    results.append(
                        {
                            "database": database,
                            "variant": variant,
                            "cpu_ms_per_search_median": round(statistics.median(per), 2)
                            if per
                            else None,
                            "rounds": rounds[variant],
                        }
                    )
            finally:
                for stack, dbname in stacks.values():
                    stop_stack(stack)
                    if dbname:
                        _drop_database(dbname)
    finally:
        for root in (before_root, after_root):
            if root is not None and root != REPO_ROOT:
                shutil.rmtree(root, ignore_errors=True)
    write_json(Path(args.out), {"machine": machine_info(), "args": vars(args), "results": results})
    for r in results:
        each = ", ".join(str(x["cpu_ms_per_search"]) for x in r["rounds"])
        print(
            f"{r['database']:<10} {r['variant']:<6} CPU ms/search median "
            f"{r['cpu_ms_per_search_median']} (rounds: {each}; "
            f"searches/s {[x['per_s'] for x in r['rounds']]})"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
