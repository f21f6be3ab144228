"""How long small files wait while a large document is embedded, before and after slices.

    python -m bench.big_and_small --bigs 2                         # embedded, 2 x 2,000 chunks
    python -m bench.big_and_small --deployments celery --paragraphs 25000

Each run starts a deployment as a user does (``bench.http_stack``), warms the model up in a
tenant of its own, uploads ``--bigs`` large text files (``--paragraphs`` distinct paragraphs
each, about 2.8 per chunk), alternately in tenant ``default`` and in the warm-up tenant, and
once their embedding has begun uploads ``--memos`` one-line memos, alternately in the two
tenants, one every ``--memo-every-s`` seconds. Reported: each memo's wait from its upload to
``ready``, and the large documents' own time to ``ready`` (what the slices cost them).

``--slices`` lists ``worker.embed_slice_chunks`` values to compare; one past the document's
chunk count is the behaviour before slices (the whole document in one run).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.common import machine_info, markdown_table, percentile, write_json
from bench.http_stack import Stack, start_stack, stop_stack

WORDS = [
    "archive",
    "ledger",
    "policy",
    "access",
    "tenant",
    "vector",
    "payload",
    "invoice",
    "contract",
    "audit",
    "pump",
    "valve",
    "turbine",
    "boiler",
    "chiller",
    "hall",
    "shift",
    "report",
    "budget",
    "supplier",
    "warranty",
    "clause",
    "notice",
]


def big_text(paragraphs: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    return "\n\n".join(
        f"Section {i}. " + " ".join(rng.choice(WORDS) for _ in range(60)) + "."
        for i in range(paragraphs)
    ).encode()


def upload(client: httpx.Client, name: str, data: bytes) -> tuple[str, float]:
    started = time.monotonic()
    r = client.post("/v1/documents", files=[("files", (name, data))])
    r.raise_for_status()
    return r.json()["data"][0]["id"], started


def wait(client: httpx.Client, doc_id: str, until: Any, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        doc = client.get(f"/v1/documents/{doc_id}").json()
        if until(doc):
            return doc
        if time.monotonic() > deadline:
            raise TimeoutError(f"{doc_id}: {doc['status']} {doc['progress']}")
        time.sleep(0.2)


def measure(deployment: str, slice_chunks: int, args: argparse.Namespace) -> dict[str, Any]:
    stack: Stack = start_stack(
        deployment,
        redis_db=9,
        keep=False,
        settings_env={"ZHIKU_WORKER__EMBED_SLICE_CHUNKS": str(slice_chunks)},
    )
    try:
        own = httpx.Client(
            base_url=stack.url, headers={"Authorization": f"Bearer {stack.key}"}, timeout=60
        )
        other = httpx.Client(
            base_url=stack.url, headers={"Authorization": f"Bearer {stack.warmup_key}"}, timeout=60
        )
        ready = lambda d: d["status"] in ("ready", "failed")  # noqa: E731
        warm, _ = upload(other, "warm-up.txt", b"Warm-up: the model loads on first use.")
        wait(other, warm, ready, 600)
        # Large documents alternate between the two tenants (two: one per embed loop of the
        # embedded default).
        bigs = [
            (*upload(client, f"big-manual-{i}.txt", big_text(args.paragraphs, seed=i)), client)
            for i in range(args.bigs)
            for client in [own if i % 2 == 0 else other]
        ]
        for big_id, _, client in bigs:
            wait(client, big_id, lambda d: d["progress"]["chunks_done"] > 0, 600)
        memos: list[tuple[str, str, float]] = []
        for i in range(args.memos):
            client, tenant = (own, "same") if i % 2 == 0 else (other, "other")
            text = f"Memo {i}: valve {i} in hall {i % 7} leaks.".encode()
            doc_id, started = upload(client, f"memo-{i}.txt", text)
            memos.append((doc_id, tenant, started))
            time.sleep(args.memo_every_s)
        waits: dict[str, list[float]] = {"same": [], "other": []}
        big_ready: dict[str, float] = {}
        chunks: dict[str, int] = {}
        pending = dict.fromkeys(doc_id for doc_id, _, _ in memos)
        deadline = time.monotonic() + args.timeout_s
        while (pending or len(big_ready) < len(bigs)) and time.monotonic() < deadline:
            stack.check_alive()
            for doc_id, tenant, started in memos:
                if doc_id in pending:
                    client = own if tenant == "same" else other
                    if ready(client.get(f"/v1/documents/{doc_id}").json()):
                        waits[tenant].append(time.monotonic() - started)
                        del pending[doc_id]
            for big_id, big_started, client in bigs:
                if big_id not in big_ready:
                    big = client.get(f"/v1/documents/{big_id}").json()
                    if ready(big):
                        big_ready[big_id] = time.monotonic() - big_started
                        chunks[big_id] = big["progress"]["chunks_total"]
            time.sleep(0.2)
        if pending or len(big_ready) < len(bigs):
            raise TimeoutError(f"{deployment}: not done in {args.timeout_s} s")
        everyone = waits["same"] + waits["other"]
        return {
            "deployment": deployment,
            "slice_chunks": slice_chunks,
            "bigs": len(bigs),
            "big_chunks": sorted(chunks.values()),
            "big_ready_s": sorted(round(v, 1) for v in big_ready.values()),
            "memo_wait_s": {k: [round(v, 1) for v in vs] for k, vs in waits.items()},
            "memo_p50_s": round(percentile(everyone, 0.5), 1),
            "memo_max_s": round(max(everyone), 1),
        }
    finally:
        stop_stack(stack)


def report(results: list[dict[str, Any]]) -> str:
    rows = [
        (
            r["deployment"],
            f"{r['slice_chunks']:,}",
            " + ".join(f"{n:,}" for n in r["big_chunks"]),
            " / ".join(str(s) for s in r["big_ready_s"]),
            r["memo_p50_s"],
            r["memo_max_s"],
            max(r["memo_wait_s"]["same"], default=0),
            max(r["memo_wait_s"]["other"], default=0),
        )
        for r in results
    ]
    headers = (
        "deployment",
        "slice",
        "large docs' chunks",
        "large docs ready s",
        "memo wait p50 s",
        "max s",
        "max, same tenant",
        "max, other tenant",
    )
    return markdown_table(headers, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deployments", default="embedded")
    parser.add_argument("--paragraphs", type=int, default=5600)
    parser.add_argument("--bigs", type=int, default=1)
    parser.add_argument("--memos", type=int, default=6)
    parser.add_argument("--memo-every-s", type=float, default=2.0)
    parser.add_argument("--slices", default="1000000,512")
    parser.add_argument("--timeout-s", type=float, default=3600)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    results = []
    for deployment in args.deployments.split(","):
        for slice_chunks in (int(s) for s in args.slices.split(",")):
            result = measure(deployment, slice_chunks, args)
            print(result, file=sys.stderr, flush=True)
            results.append(result)
    print(report(results))
    if args.out:
        write_json(args.out, {"machine": machine_info(), "args": vars(args), "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
