"""The ONNX embedder's batch cut, old against new, on the model alone: CPU a passage for
xquad-r-zh's short Chinese passages as the embed stage hands them over (a group of G
documents sorted by length, in calls of ``batch_size x concurrency`` texts) and in one call.

    nice -n 10 python -m bench.batch_cut --rounds 3 --groups 20 128 512 0

``greedy``: the cut shipped before issue 12's session 21 (a batch ends before a text more than
1.2 times its first's length, texts under 8 tokens counting as 8, and before 512 padded
tokens); ``dp``: ``index.embedding_onnx.cut_batches`` (the cheapest cut by ``batch_cost``).
Group size 0 means all passages in one call (the model alone of ``bench.ingest_models``).
The cuts take turns call by call (each call embedded by every cut back to back), so a change
of the machine's load falls on all alike. Vectors are compared too: they must be the same bit
for bit (a text's vector does not depend on its batch).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from bench.common import REPO_ROOT, load_average, machine_info, shared_data_dir, write_json
from bench.model_alone import make_embedder
from core.settings import Settings
from index import embedding_onnx

SHIPPED_CUT = embedding_onnx.cut_batches


def greedy_cut(
    order: Sequence[int], sizes: Sequence[int], batch_size: int, max_tokens: int | None = 512
) -> list[list[int]]:
    """The cut before session 21 (``a8cbada``), kept here to compare with."""
    batches: list[list[int]] = []
    current: list[int] = []
    ceiling = 0.0
    for i in order:
        too_many = max_tokens is not None and (len(current) + 1) * sizes[i] > max_tokens
        full = len(current) >= batch_size or too_many
        if current and (full or sizes[i] > ceiling):
            batches.append(current)
            current = []
        if not current:
            ceiling = 1.2 * max(sizes[i], 8)
        current.append(i)
    if current:
        batches.append(current)
    return batches


def cut_named(name: str):  # type: ignore[no-untyped-def]
    """``greedy``, or ``dp`` / ``dp:<call tokens>``: the shipped cut with that call cost."""
    if name == "greedy":
        return greedy_cut
    tokens = float(name.partition(":")[2] or embedding_onnx.CALL_TOKENS)

    def dp(order, sizes, batch_size, max_tokens=512):  # type: ignore[no-untyped-def]
        shipped = embedding_onnx.CALL_TOKENS
        embedding_onnx.CALL_TOKENS = tokens
        try:
            return SHIPPED_CUT(order, sizes, batch_size, max_tokens)
        finally:
            embedding_onnx.CALL_TOKENS = shipped

    return dp


def passages(limit: int) -> list[str]:
    path = shared_data_dir() / "xquad-r-zh" / "corpus.jsonl"
    with path.open(encoding="utf-8") as lines:
        texts = [json.loads(line)["text"] for line in lines]
    return texts[:limit] if limit else texts


def calls_of(texts: list[str], group: int, step: int) -> list[list[str]]:
    """The embed stage's calls: groups of ``group`` documents (0: one call of all), each
    sorted by length and cut into calls of ``step`` texts."""
    if group == 0:
        return [texts]
    calls: list[list[str]] = []
    for start in range(0, len(texts), group):
        ordered = sorted(texts[start : start + group], key=len)
        calls += [ordered[i : i + step] for i in range(0, len(ordered), step)]
    return calls


def measure(embedder, calls: list[list[str]], cuts: list[str]) -> dict[str, dict[str, float]]:
    """Each call embedded once by every cut, back to back, the order turning call by call (so
    a change of the machine's load falls on all cuts alike): CPU ms a text and batches a call
    for each cut, and the vectors checked equal."""
    cpu = dict.fromkeys(cuts, 0.0)
    batches = dict.fromkeys(cuts, 0)
    for n, call in enumerate(calls):
        vectors = {}
        for cut in cuts[n % len(cuts) :] + cuts[: n % len(cuts)]:
            counted: list[int] = []

            def counting_cut(order, sizes, batch_size, max_tokens=512):  # type: ignore[no-untyped-def]
                made = cut_named(cut)(order, sizes, batch_size, max_tokens)  # noqa: B023
                counted.append(len(made))  # noqa: B023
                return made

            embedding_onnx.cut_batches = counting_cut
            try:
                started = time.process_time()
                vectors[cut] = embedder.embed_documents(call)
                cpu[cut] += time.process_time() - started
            finally:
                embedding_onnx.cut_batches = SHIPPED_CUT
            batches[cut] += sum(counted)
        for cut in cuts[1:]:
            diff = float(np.abs(vectors[cuts[0]] - vectors[cut]).max())
            assert diff == 0.0, f"vectors moved by {diff}"
    texts = sum(len(call) for call in calls)
    return {
        cut: {"cpu_ms_a_text": 1000 * cpu[cut] / texts, "batches_a_call": batches[cut] / len(calls)}
        for cut in cuts
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--limit", type=int, default=1024)
    parser.add_argument("--groups", type=int, nargs="+", default=[20, 128, 512, 0])
    parser.add_argument("--cuts", nargs="+", default=["greedy", "dp"])
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    settings = Settings.model_validate({"embedding": {"model": "packaged:multilingual-e5-small"}})
    embedder = make_embedder(settings)
    texts = passages(args.limit)
    embedder.embed_documents(texts[:64])  # the session, loaded
    step = embedder.batch_size * embedder.concurrency
    rows: list[dict[str, object]] = []
    for round_no in range(args.rounds):
        for group in args.groups:
            calls = calls_of(texts, group, step)
            if group == 0:  # one call: the cuts take turns by round instead
                calls = calls * len(args.cuts)
            for cut, figures in measure(embedder, calls, args.cuts).items():
                row = {"round": round_no, "group": group, "cut": cut, **figures}
                rows.append(row | {"load": load_average()[0]})
                print(json.dumps(rows[-1]), flush=True)
    stamp = time.strftime("%Y%m%d-%H%M")
    out = (
        Path(args.out) if args.out else REPO_ROOT / "bench" / "results" / f"batch-cut-{stamp}.json"
    )
    write_json(out, {"machine": machine_info(), "texts": len(texts), "rows": rows})
    print("group  cut     CPU ms a text (rounds)")
    for group in args.groups:
        for cut in args.cuts:
            figures = [r["cpu_ms_a_text"] for r in rows if r["group"] == group and r["cut"] == cut]
            print(f"{group:5d}  {cut:6s}  " + ", ".join(f"{f:.2f}" for f in figures))


if __name__ == "__main__":
    main()
