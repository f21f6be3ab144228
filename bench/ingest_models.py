"""Ingestion throughput of two dense models, each in Zhiku as a user runs it and alone, in one
run: today's default (the packaged MiniLM) against the packaged multilingual-e5-small.

    python -m bench.ingest_models                         # 1,037 SciFact docs, all of xquad-r-zh
    nice -n 10 python -m bench.ingest_models --scifact-limit 40 --xquad-limit 40   # a smoke test

For each model, one embedded deployment (``zhiku serve`` alone, ``bench.http_stack``) with
``ZHIKU_EMBEDDING__MODEL`` set (MiniLM: unset, today's default), measured over HTTP as
``bench.ingest`` measures it (several clients upload, the clock stops when the documents list
reports the last one ready or failed); and the model alone (``bench.model_alone``: the int8 ONNX
embedder on the chunks the product's parse function makes with that model's tokenizer, in one
call) in a child process of its own, so its CPU and RSS are that model's alone.

Each corpus is cut into ``--rounds`` slices; the models take turns on each slice, first MiniLM
then e5, then e5 then MiniLM (A B B A), so both see the same load history. Cold start (the e5
folder and its ONNX export, built once into the model cache; the parse child; the store) is
spent beforehand in each deployment's warm-up tenant and in each child's warm-up call.
Results go to ``bench/results/ingest-models-<date>.json``; a markdown report is printed.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psutil

from bench.common import (
    REPO_ROOT,
    load_average,
    machine_info,
    markdown_table,
    shared_data_dir,
    write_json,
)
from bench.corpora import SCIFACT_SIZE, XQUAD_R_ZH_SIZE, SourceDoc, scifact, xquad_r_zh
from bench.http_ingest import run_http, warm_up
from bench.http_stack import Stack, start_stack, stop_stack
from bench.ingest import git_facts
from bench.model_alone import make_embedder, make_parse_fn, run_model_alone
from core.settings import Settings

RESULTS = REPO_ROOT / "bench" / "results"
# Model key -> ZHIKU_EMBEDDING__MODEL, named explicitly for both: the default is what this
# benchmark decides, so neither deployment may depend on it.
MODELS = {"minilm": "packaged:all-minilm-l6-v2", "e5": "packaged:multilingual-e5-small"}
CORPORA = ("scifact", "xquad-r-zh")
TARGET_DOCS_VS_MINILM = 0.5  # e5 deployment / MiniLM deployment, docs/s, on English
TARGET_VS_ALONE = 0.8  # e5 deployment / e5 alone, chunks/s
WARMUP_TEXTS = (
    [f"Warm-up note {n}.\n\nNothing here {n}." for n in range(8)]
    + [f"预热说明 {n}。\n\n这里没有内容。" for n in range(2)]
    + [f"預熱說明 {n}。\n\n這裡沒有內容。" for n in range(2)]
)


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {load_average()[0]:.2f}] {message}", file=sys.stderr)


# --- the model alone, in a child process per model -------------------------------------------

_child: dict[str, Any] = {}


def _init_child(settings_json: str) -> None:
    logging.basicConfig(level=logging.WARNING)
    settings = Settings.model_validate_json(settings_json)
    _child["settings"] = settings
    _child["embedder"] = make_embedder(settings)
    _child["parse"] = make_parse_fn(settings)


def _child_warm_up() -> dict[str, Any]:
    """The first call loads the ONNX session (and builds the e5 export if the cache lacks it)."""
    started = time.perf_counter()
    embedder = _child["embedder"]
    embedder.embed_documents(WARMUP_TEXTS * 4)
    _child["parse"](WARMUP_TEXTS[0].encode(), "warm-up.txt")
    return {
        "warmup_s": round(time.perf_counter() - started, 2),
        "class": type(embedder).__name__,
        "name": getattr(embedder, "name", ""),
        "pid": os.getpid(),
    }


def _child_run(corpus: str, docs: list[SourceDoc]) -> dict[str, Any]:
    settings = _child["settings"]
    run = run_model_alone(
        _child["embedder"], _child["parse"], corpus, docs, settings.embedding.max_tokens
    )
    return asdict(run)


# --- the run -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    warnings.filterwarnings("ignore", message="Payload indexes have no effect")
    # Both models run on the defaults but for the model: inherited ZHIKU_* would change them.
    dropped = sorted(k for k in os.environ if k.startswith("ZHIKU_") and k != "ZHIKU_SHARED_DATA")
    for name in dropped:
        del os.environ[name]
    started = time.monotonic()
    shared = shared_data_dir()
    out = Path(args.out or RESULTS / f"ingest-models-{time.strftime('%Y-%m-%d-%H%M')}.json")
    local_dir = Path(tempfile.mkdtemp(prefix="zhiku-bench-models-"))
    settings = {
        key: Settings(data_dir=local_dir, embedding={"model": MODELS[key]}) for key in args.models
    }
    corpora: dict[str, list[SourceDoc]] = {}
    if "scifact" in args.corpora:
        corpora["scifact"] = scifact(shared, args.scifact_limit)
    if "xquad-r-zh" in args.corpora:
        corpora["xquad-r-zh"] = xquad_r_zh(shared, args.xquad_limit)
    result: dict[str, Any] = {
        "command": "python -m bench.ingest_models "
        + " ".join(sys.argv[1:] if argv is None else argv),
        "started": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": machine_info(),
        "nice": os.nice(0),
        "git": git_facts(),
        "dropped_env": dropped,
        "models": {key: MODELS[key] for key in args.models},
        "corpora": {name: len(docs) for name, docs in corpora.items()},
        "rounds": args.rounds,
        "clients": args.clients,
        "files_per_request": args.files_per_request,
        "settings": {
            key: {"embedding": s.embedding.model_dump(), "chunking": s.chunking.model_dump()}
            for key, s in settings.items()
        },
    }
    say(f"corpora {result['corpora']}, models {list(args.models)}, {args.rounds} rounds each")
    rows: list[dict[str, Any]] = []
    stacks: dict[str, Stack] = {}
    pools: dict[str, ProcessPoolExecutor] = {}
    try:
        context = multiprocessing.get_context("spawn")
        for key in args.models:
            say(f"{key}: starting the embedded deployment and the model-alone process")
            facts = result.setdefault("setup", {}).setdefault(key, {})
            env = {"ZHIKU_EMBEDDING__MODEL": MODELS[key]}
            stack = start_stack("embedded", args.redis_db, args.keep, settings_env=env)
            stacks[key] = stack
            facts["start_s"] = stack.started_s
            facts["deployment_warmup_s"] = warm_up(stack, _warmup_docs())
            pools[key] = ProcessPoolExecutor(
                1,
                mp_context=context,
                initializer=_init_child,
                initargs=(settings[key].model_dump_json(),),
            )
            facts["alone"] = pools[key].submit(_child_warm_up).result(timeout=1800)
            say(
                f"{key}: up in {stack.started_s} s, warm-up {facts['deployment_warmup_s']} s; "
                f"alone warm-up {facts['alone']['warmup_s']} s"
            )
        for corpus, docs in corpora.items():
            for number, part in enumerate(_slices(docs, args.rounds), 1):
                order = list(args.models) if number % 2 else list(reversed(args.models))
                for key in order:
                    if args.settle_s:
                        time.sleep(args.settle_s)  # the previous row's tail is not this one's
                    rows.append(deployment_row(stacks, pools, key, corpus, number, part, args))
                    say(_line(rows[-1]))
                    rows.append(alone_row(stacks, pools, key, corpus, number, part))
                    say(_line(rows[-1]))
                    # Same files, same tokenizer: the counts differ only if the deployment
                    # runs another model than its name says.
                    if rows[-1]["chunks"] != rows[-2]["chunks"]:
                        rows[-2]["chunks_differ_from_alone"] = True
                        say(
                            f"WARNING: {key} deployment made {rows[-2]['chunks']} chunks, "
                            f"the model alone {rows[-1]['chunks']}"
                        )
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"[:4000]
        say(f"stopped by an error: {result['error']}")
    finally:
        for stack in stacks.values():
            stop_stack(stack, args.keep)
        for pool in pools.values():
            pool.shutdown(cancel_futures=True)
        shutil.rmtree(local_dir, ignore_errors=True)  # the model-alone runs write nothing
    result["rows"] = rows
    result["summary"] = summarise(rows)
    result["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %z")
    result["total_s"] = round(time.monotonic() - started, 1)
    result["load_average_at_end"] = load_average()
    write_json(out, result)
    print(report(result))
    say(f"results written to {out}")
    return 1 if "error" in result else 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.ingest_models", description=__doc__)
    parser.add_argument(
        "--scifact-limit",
        type=int,
        default=1037,
        help=f"the first N SciFact documents (0: all {SCIFACT_SIZE:,})",
    )
    parser.add_argument(
        "--xquad-limit",
        type=int,
        default=0,
        help=f"the first N xquad-r-zh passages (0: all {XQUAD_R_ZH_SIZE:,})",
    )
    parser.add_argument(
        "--corpora",
        type=lambda s: [c.strip() for c in s.split(",") if c.strip()],
        default=list(CORPORA),
        help="comma-separated: scifact, xquad-r-zh (default both)",
    )
    parser.add_argument(
        "--models",
        type=lambda s: [m.strip() for m in s.split(",") if m.strip()],
        default=list(MODELS),
        help="comma-separated: minilm, e5 (default both, in that order)",
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="slices per corpus; the model order alternates"
    )
    parser.add_argument("--files-per-request", type=int, default=20, help="files per upload")
    parser.add_argument("--clients", type=int, default=3, help="concurrent uploading clients")
    parser.add_argument("--settle-s", type=float, default=3.0, help="pause before each row")
    parser.add_argument("--redis-db", type=int, default=12, help="unused by embedded stacks")
    parser.add_argument("--out", help="JSON result (default bench/results/ingest-models-<date>)")
    parser.add_argument("--keep", action="store_true", help="keep the data folders")
    args = parser.parse_args(argv)
    for what, given, known in (
        ("models", args.models, MODELS),
        ("corpora", args.corpora, CORPORA),
    ):
        unknown = set(given) - set(known)
        if unknown:
            parser.error(f"unknown {what}: {', '.join(sorted(unknown))}")
    return args


def _warmup_docs() -> list[SourceDoc]:
    return [
        SourceDoc(f"warm-up-{n}.txt", text.encode("utf-8"), "txt")
        for n, text in enumerate(WARMUP_TEXTS)
    ]


def _slices(docs: list[SourceDoc], rounds: int) -> list[list[SourceDoc]]:
    if not docs:
        return []
    rounds = max(1, min(rounds, len(docs)))
    size = -(-len(docs) // rounds)
    return [docs[i : i + size] for i in range(0, len(docs), size)]


def _bystanders_cpu(
    stacks: dict[str, Stack], pools: dict[str, ProcessPoolExecutor], measured: str
) -> float:
    """CPU seconds so far of this benchmark's processes but the measured one (``deployment:e5``,
    ``model_alone:minilm``): the idle stacks and children must stay idle meanwhile."""
    pids = [s.procs["server"].pid for k, s in stacks.items() if measured != f"deployment:{k}"]
    for key, pool in pools.items():
        if measured != f"model_alone:{key}":
            pids += list(getattr(pool, "_processes", None) or {})
    total = 0.0
    for pid in pids:
        try:
            root = psutil.Process(pid)
            for proc in [root, *root.children(recursive=True)]:
                times = proc.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            continue
    return total


def deployment_row(
    stacks: dict[str, Stack],
    pools: dict[str, ProcessPoolExecutor],
    key: str,
    corpus: str,
    number: int,
    docs: list[SourceDoc],
    args: argparse.Namespace,
) -> dict[str, Any]:
    load_before = load_average()
    others_before = _bystanders_cpu(stacks, pools, f"deployment:{key}")
    http = run_http(stacks[key], corpus, docs, args.files_per_request, args.clients)
    detail = asdict(http)
    res = detail.pop("resources")
    row = _row(
        "deployment",
        key,
        corpus,
        number,
        http.accepted,
        http.chunks,
        http.wall_s,
        res["cpu_s"],
        res["peak_rss_mib"],
        res,
        load_before,
    )
    row["bystanders_cpu_s"] = round(
        _bystanders_cpu(stacks, pools, f"deployment:{key}") - others_before, 2
    )
    row["detail"] = detail
    return row


def alone_row(
    stacks: dict[str, Stack],
    pools: dict[str, ProcessPoolExecutor],
    key: str,
    corpus: str,
    number: int,
    docs: list[SourceDoc],
) -> dict[str, Any]:
    load_before = load_average()
    others_before = _bystanders_cpu(stacks, pools, f"model_alone:{key}")
    detail = pools[key].submit(_child_run, corpus, list(docs)).result()
    res = detail.pop("resources")
    resources = {
        "cpu_s": res["cpu_main_s"],
        "peak_rss_mib": res["peak_rss_main_mib"],
        "load_mean": res["load_mean"],
        "load_max": res["load_max"],
    }
    row = _row(
        "model_alone",
        key,
        corpus,
        number,
        detail["documents_parsed"],
        detail["chunks"],
        res["wall_s"],
        res["cpu_main_s"],
        res["peak_rss_main_mib"],
        resources,
        load_before,
    )
    row["bystanders_cpu_s"] = round(
        _bystanders_cpu(stacks, pools, f"model_alone:{key}") - others_before, 2
    )
    row["detail"] = detail
    return row


def _row(
    kind: str,
    model: str,
    corpus: str,
    number: int,
    docs: int,
    chunks: int,
    wall_s: float,
    cpu_s: float,
    peak_rss_mib: float,
    resources: dict[str, Any],
    load_before: list[float],
) -> dict[str, Any]:
    return {
        "kind": kind,
        "model": model,
        "corpus": corpus,
        "round": number,
        "documents": docs,
        "chunks": chunks,
        "wall_s": wall_s,
        # The model alone parses outside its clock: its documents per second would mislead.
        "docs_per_s": round(docs / wall_s, 2) if wall_s and kind == "deployment" else None,
        "chunks_per_s": round(chunks / wall_s, 2) if wall_s else None,
        "cpu_s": cpu_s,
        "cpu_ms_per_chunk": round(1000 * cpu_s / chunks, 1) if chunks else None,
        "peak_rss_mib": peak_rss_mib,
        "load_before": load_before,
        "load_mean": resources["load_mean"],
        "load_max": resources["load_max"],
        "load_after": load_average(),
        "bystanders_cpu_s": None,
        "resources": resources,
    }


def _line(row: dict[str, Any]) -> str:
    return (
        f"{row['corpus']} round {row['round']}: {row['model']} {row['kind']}: "
        f"{row['wall_s']:.1f} s, {row['docs_per_s']} docs/s, {row['chunks_per_s']} chunks/s, "
        f"CPU {row['cpu_s']:.0f} s, RSS {row['peak_rss_mib']:.0f} MiB, load {row['load_mean']}"
    )


# --- summary and report ------------------------------------------------------------------------


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for corpus in dict.fromkeys(r["corpus"] for r in rows):
        mine = [r for r in rows if r["corpus"] == corpus]
        totals: dict[str, Any] = {}
        for kind, model in dict.fromkeys((r["kind"], r["model"]) for r in mine):
            runs = [r for r in mine if r["kind"] == kind and r["model"] == model]
            totals[f"{model}:{kind}"] = _totals(runs)
        out[corpus] = {"totals": totals, "ratios": _ratios(corpus, mine, totals)}
    return out


def _totals(runs: list[dict[str, Any]]) -> dict[str, Any]:
    wall = sum(r["wall_s"] for r in runs)
    docs = sum(r["documents"] for r in runs)
    chunks = sum(r["chunks"] for r in runs)
    cpu = sum(r["cpu_s"] for r in runs)
    return {
        "rounds": len(runs),
        "documents": docs,
        "chunks": chunks,
        "wall_s": round(wall, 2),
        "docs_per_s": round(docs / wall, 2) if wall and runs[0]["kind"] == "deployment" else None,
        "chunks_per_s": round(chunks / wall, 2) if wall else None,
        "cpu_s": round(cpu, 1),
        "bystanders_cpu_s": round(sum(r["bystanders_cpu_s"] or 0.0 for r in runs), 2),
        "cpu_ms_per_chunk": round(1000 * cpu / chunks, 1) if chunks else None,
        "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
        "load_mean": round(sum(r["load_mean"] for r in runs) / len(runs), 2),
    }


def _ratios(
    corpus: str, rows: list[dict[str, Any]], totals: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    english = corpus == "scifact"
    pairs = {
        # (numerator, denominator, rate, target)
        "e5_deployment_vs_minilm_deployment_docs": (
            "e5:deployment",
            "minilm:deployment",
            "docs_per_s",
            TARGET_DOCS_VS_MINILM if english else None,
        ),
        "e5_deployment_vs_e5_alone_chunks": (
            "e5:deployment",
            "e5:model_alone",
            "chunks_per_s",
            TARGET_VS_ALONE,
        ),
        "minilm_deployment_vs_minilm_alone_chunks": (
            "minilm:deployment",
            "minilm:model_alone",
            "chunks_per_s",
            None,
        ),
        "e5_alone_vs_minilm_alone_chunks": (
            "e5:model_alone",
            "minilm:model_alone",
            "chunks_per_s",
            None,
        ),
    }
    out: dict[str, dict[str, Any]] = {}
    for name, (a, b, rate, target) in pairs.items():
        if a not in totals or b not in totals or not totals[b][rate]:
            continue
        value = round(totals[a][rate] / totals[b][rate], 3)
        per_round = []
        for number in sorted({r["round"] for r in rows}):
            x = _find(rows, a, number)
            y = _find(rows, b, number)
            per_round.append(round(x[rate] / y[rate], 3) if x and y and y[rate] else None)
        entry: dict[str, Any] = {"value": value, "per_round": per_round}
        if target is not None:
            entry.update(target=target, met=value >= target)
        out[name] = entry
    return out


def _find(rows: list[dict[str, Any]], competitor: str, number: int) -> dict[str, Any] | None:
    model, kind = competitor.split(":")
    for row in rows:
        if row["model"] == model and row["kind"] == kind and row["round"] == number:
            return row
    return None


def report(result: dict[str, Any]) -> str:
    parts = []
    headers = [
        "Corpus",
        "Round",
        "Model",
        "Run",
        "Docs",
        "Chunks",
        "Wall s",
        "Docs/s",
        "Chunks/s",
        "CPU s",
        "Peak RSS MiB",
        "Load 1-min before / mean / max",
        "Idle others' CPU s",
    ]
    rows = [
        [
            r["corpus"],
            r["round"],
            r["model"],
            "Zhiku embedded, HTTP" if r["kind"] == "deployment" else "model alone",
            f"{r['documents']:,}",
            f"{r['chunks']:,}",
            f"{r['wall_s']:.1f}",
            f"{r['docs_per_s']:.1f}" if r["kind"] == "deployment" else "",
            f"{r['chunks_per_s']:.1f}",
            f"{r['cpu_s']:.0f}",
            f"{r['peak_rss_mib']:,.0f}",
            f"{r['load_before'][0]:.2f} / {r['load_mean']:.2f} / {r['load_max']:.2f}",
            f"{r['bystanders_cpu_s']:.1f}",
        ]
        for r in result["rows"]
    ]
    parts.append("Per row, in the order run:\n\n" + markdown_table(headers, rows))
    for corpus, summary in result["summary"].items():
        headers = [
            "Run",
            "Docs",
            "Chunks",
            "Wall s",
            "Docs/s",
            "Chunks/s",
            "CPU s",
            "CPU ms/chunk",
            "Peak RSS MiB",
            "Load mean",
        ]
        table = [
            [
                name.replace(":deployment", ", Zhiku embedded").replace(":model_alone", ", alone"),
                f"{t['documents']:,}",
                f"{t['chunks']:,}",
                f"{t['wall_s']:.1f}",
                f"{t['docs_per_s']:.1f}" if name.endswith("deployment") else "",
                f"{t['chunks_per_s']:.1f}",
                f"{t['cpu_s']:.0f}",
                f"{t['cpu_ms_per_chunk']}",
                f"{t['peak_rss_mib']:,.0f}",
                f"{t['load_mean']:.2f}",
            ]
            for name, t in summary["totals"].items()
        ]
        lines = []
        for name, r in summary["ratios"].items():
            note = ""
            if "target" in r:
                note = f" (target ≥ {r['target']:.2f}: {'met' if r['met'] else 'missed'})"
            lines.append(f"- {name}: **{r['value']:.2f}**{note}; per round {r['per_round']}")
        parts.append(
            f"### {corpus}\n\n" + markdown_table(headers, table) + "\n\n" + "\n".join(lines)
        )
    m = result["machine"]
    parts.append(
        f"Machine: {m['usable_cpus']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB; load average"
        f" {m['load_average_at_start']} at start, {result['load_average_at_end']} at end; nice"
        f" {result['nice']}; {result['total_s']:.0f} s in all."
        + (f" Error: {result['error']}" if result.get("error") else "")
    )
    return "\n\n".join(parts)


if __name__ == "__main__":
    sys.exit(main())
