"""How long memos wait while a large file is parsed, with and without the small-file lane.

    python -m bench.parse_lanes --lines 10000 --memos 4 --memo-after-s 30

Starts the embedded default as a user does (``bench.http_stack``), with unstructured's text
partitioner (``ZHIKU_PARSING__PLAIN_TEXT=unstructured``: spaCy on every line, so a file of
``--lines`` short lines takes minutes to parse), warms it up with one memo, uploads the large
file, and ``--memo-after-s`` seconds after its parse has begun uploads ``--memos`` one-line
memos, one every ``--memo-every-s`` seconds. Reported: each memo's wait from upload to
``ready``, and the large file's time to ``ready``; once with
``ZHIKU_PARSING__SMALL_FILE_LANE`` off (the behaviour before the lane), once on.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.big_and_small import upload, wait
from bench.common import load_average, machine_info, markdown_table, percentile, write_json
from bench.http_stack import start_stack, stop_stack


def measure(lane: bool, args: argparse.Namespace) -> dict[str, Any]:
    settings = {
        "ZHIKU_PARSING__PLAIN_TEXT": "unstructured",
        "ZHIKU_PARSING__SMALL_FILE_LANE": str(lane).lower(),
    }
    stack = start_stack("embedded", redis_db=9, keep=False, settings_env=settings)
    try:
        client = httpx.Client(
            base_url=stack.url, headers={"Authorization": f"Bearer {stack.key}"}, timeout=60
        )
        ready = lambda d: d["status"] in ("ready", "failed")  # noqa: E731
        warm, _ = upload(client, "warm-up.txt", b"Warm-up: the model loads on first use.")
        wait(client, warm, ready, 600)
        large = "\n\n".join(f"Short heading number {i}" for i in range(args.lines)).encode()
        large_id, large_started = upload(client, "slow-manual.txt", large)
        wait(client, large_id, lambda d: d["stage"] == "parsing", 600)
        time.sleep(args.memo_after_s)
        memos = []
        for i in range(args.memos):
            memos.append(upload(client, f"memo-{i}.txt", f"Memo {i}: valve {i} leaks.".encode()))
            time.sleep(args.memo_every_s)
        waits: dict[str, float] = {}
        deadline = time.monotonic() + args.timeout_s
        while len(waits) < len(memos):
            stack.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"memos not ready in {args.timeout_s} s")
            for doc_id, started in memos:
                if doc_id not in waits:
                    doc = client.get(f"/v1/documents/{doc_id}").json()
                    if ready(doc):
                        assert doc["status"] == "ready", doc
                        waits[doc_id] = time.monotonic() - started
            time.sleep(0.2)
        big = client.get(f"/v1/documents/{large_id}").json()
        memos_ready_while = big["stage"]
        wait(client, large_id, ready, args.timeout_s)
        return {
            "small_file_lane": lane,
            "lines": args.lines,
            "large_bytes": len(large),
            "large_ready_s": round(time.monotonic() - large_started, 1),
            "large_stage_when_memos_ready": memos_ready_while,
            "memo_wait_s": [round(waits[doc_id], 1) for doc_id, _ in memos],
            "memo_p50_s": round(percentile(list(waits.values()), 0.5), 1),
            "memo_max_s": round(max(waits.values()), 1),
            "load_average": load_average(),
        }
    finally:
        stop_stack(stack)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=8000)
    parser.add_argument("--memos", type=int, default=4)
    parser.add_argument("--memo-every-s", type=float, default=2.0)
    parser.add_argument("--memo-after-s", type=float, default=0.0)
    parser.add_argument("--lanes", default="false,true")
    parser.add_argument("--timeout-s", type=float, default=1800)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    results = []
    for lane in (flag == "true" for flag in args.lanes.split(",")):
        result = measure(lane, args)
        print(result, file=sys.stderr, flush=True)
        results.append(result)
    headers = ("small-file lane", "large ready s", "memo waits s", "p50 s", "max s", "load")
    rows = [
        (
            "on" if r["small_file_lane"] else "off",
            r["large_ready_s"],
            " / ".join(str(w) for w in r["memo_wait_s"]),
            r["memo_p50_s"],
            r["memo_max_s"],
            r["load_average"][0],
        )
        for r in results
    ]
    print(markdown_table(headers, rows))
    if args.out:
        write_json(args.out, {"machine": machine_info(), "args": vars(args), "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
