"""How long memos wait while large files are parsed, with and without a small-file lane.

    python -m bench.parse_lanes --lines 10000 --memos 4 --memo-after-s 30
    python -m bench.parse_lanes --deployment celery --lines 4000 --memo-after-s 10 \
        --lanes false,true,false,true

Starts a deployment as a user does (``bench.http_stack``), with unstructured's text
partitioner (``ZHIKU_PARSING__PLAIN_TEXT=unstructured``: spaCy on every line, so a file of
``--lines`` short lines takes minutes to parse), warms it up with one memo, uploads the large
files, and ``--memo-after-s`` seconds after all their parses have begun uploads ``--memos``
one-line memos, one every ``--memo-every-s`` seconds. Reported: each memo's wait from upload
to ``ready``, and the large files' time to ``ready``.

``embedded``: one large file (one parse thread on two cores), the small-file lane
(``ZHIKU_PARSING__SMALL_FILE_LANE``) off (the behaviour before it) and on. ``celery``: a parse
worker of ``--parse-workers`` processes (compose: 2) with one large file each, an embed
worker, and the small-file worker (``zhiku worker --queues parse-small``, compose's
worker-parse-small) absent (the behaviour before it) or present.
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
from bench.http_stack import Stack, start_stack, stop_stack


def _start(lane: bool, args: argparse.Namespace) -> Stack:
    settings = {"ZHIKU_PARSING__PLAIN_TEXT": "unstructured"}
    if args.deployment == "embedded":
        settings["ZHIKU_PARSING__SMALL_FILE_LANE"] = str(lane).lower()
        return start_stack("embedded", redis_db=9, keep=False, settings_env=settings)
    return start_stack(
        "celery",
        redis_db=9,
        keep=False,
        parse_workers=args.parse_workers,
        settings_env=settings,
        small_file_workers=1 if lane else 0,
    )


def measure(lane: bool, args: argparse.Namespace) -> dict[str, Any]:
    stack = _start(lane, args)
    try:
        client = httpx.Client(
            base_url=stack.url, headers={"Authorization": f"Bearer {stack.key}"}, timeout=60
        )
        ready = lambda d: d["status"] in ("ready", "failed")  # noqa: E731
        warm, _ = upload(client, "warm-up.txt", b"Warm-up: the model loads on first use.")
        wait(client, warm, ready, 600)
        count = 1 if args.deployment == "embedded" else args.parse_workers
        larges = []
        for n in range(count):
            lines = (f"Short heading number {i} of manual {n}" for i in range(args.lines))
            larges.append(upload(client, f"slow-manual-{n}.txt", "\n\n".join(lines).encode()))
        for large_id, _ in larges:
            wait(client, large_id, lambda d: d["stage"] == "parsing", 600)
        time.sleep(args.memo_after_s)
        memos: list[tuple[str, float]] = []
        waits: dict[str, float] = {}
        deadline = time.monotonic() + args.timeout_s
        next_upload = time.monotonic()
        # Polled while the memos are still being uploaded: a memo ready before the last
        # upload is timed as such, not when the uploads are done.
        while len(waits) < args.memos:
            stack.check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"memos not ready in {args.timeout_s} s")
            if len(memos) < args.memos and time.monotonic() >= next_upload:
                i = len(memos)
                memo = f"Memo {i}: valve {i} leaks.".encode()
                memos.append(upload(client, f"memo-{i}.txt", memo))
                next_upload = time.monotonic() + args.memo_every_s
            for doc_id, started in memos:
                if doc_id not in waits:
                    doc = client.get(f"/v1/documents/{doc_id}").json()
                    if ready(doc):
                        assert doc["status"] == "ready", doc
                        waits[doc_id] = time.monotonic() - started
            time.sleep(0.2)
        stages = [client.get(f"/v1/documents/{d}").json()["stage"] for d, _ in larges]
        large_ready = []
        for large_id, started in larges:
            wait(client, large_id, ready, args.timeout_s)
            large_ready.append(round(time.monotonic() - started, 1))
        return {
            "deployment": args.deployment,
            "small_file_lane": lane,
            "lines": args.lines,
            "large_files": count,
            "large_ready_s": large_ready,
            "large_stage_when_memos_ready": stages,
            "memo_wait_s": [round(waits[doc_id], 1) for doc_id, _ in memos],
            "memo_p50_s": round(percentile(list(waits.values()), 0.5), 1),
            "memo_max_s": round(max(waits.values()), 1),
            "load_average": load_average(),
        }
    finally:
        stop_stack(stack)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deployment", choices=("embedded", "celery"), default="embedded")
    parser.add_argument("--parse-workers", type=int, default=2, help="celery: processes")
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
            " / ".join(str(s) for s in r["large_ready_s"]),
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
