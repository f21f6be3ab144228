"""Sums the rounds of ``bench.ingest`` per corpus and competitor, and renders the tables."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from bench.common import markdown_table

TARGET_MODEL_SHARE = 0.80
LABELS = {
    "zhiku": "Zhiku pipeline (upload → ready)",
    "model_alone": "Model alone, same chunks",
    "llamaindex:zhiku-onnx": "LlamaIndex IngestionPipeline + Zhiku ONNX",
    "llamaindex:huggingface-torch": "LlamaIndex IngestionPipeline + HuggingFaceEmbedding",
}


def aggregate(runs: list[dict[str, Any]]) -> dict[str, Any]:
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        grouped[run["corpus"]][run["competitor"]].append(run)
    return {corpus: _corpus_summary(by) for corpus, by in grouped.items()}


def _corpus_summary(by: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    totals = {name: _totals(rounds) for name, rounds in by.items()}
    out: dict[str, Any] = {"competitors": totals, "ratios": _ratios(totals, by)}
    if "zhiku" in by:
        out["pipeline_facts"] = _pipeline_facts(by["zhiku"])
    return out


def _totals(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    wall = sum(r["resources"]["wall_s"] for r in rounds)
    cpu = sum(r["resources"]["cpu_main_s"] + r["resources"]["cpu_children_s"] for r in rounds)
    docs = sum(r["documents"] for r in rounds)
    chunks = sum(r["chunks"] for r in rounds)
    tokens = [(r["detail"].get("mean_tokens", 0.0), r["chunks"]) for r in rounds]
    return {
        "rounds": len(rounds),
        "documents": docs,
        "chunks": chunks,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 1),
        "docs_per_s": round(docs / wall, 2) if docs else None,
        "chunks_per_s": round(chunks / wall, 2),
        "cpu_ms_per_chunk": round(1000 * cpu / chunks, 1) if chunks else None,
        "mean_tokens_per_chunk": round(sum(t * n for t, n in tokens) / max(1, chunks), 1),
        # Round 1 ran before LlamaIndex or torch models were loaded into this process.
        "peak_rss_tree_mib_round1": rounds[0]["resources"]["peak_rss_tree_mib"],
        "peak_rss_tree_mib_max": max(r["resources"]["peak_rss_tree_mib"] for r in rounds),
        "peak_rss_children_mib_max": max(r["resources"]["peak_rss_children_mib"] for r in rounds),
        "load_mean": round(sum(r["resources"]["load_mean"] for r in rounds) / len(rounds), 2),
    }


def _ratios(totals: dict[str, Any], by: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    if "zhiku" not in totals or "model_alone" not in totals:
        return {}
    z, m = totals["zhiku"], totals["model_alone"]
    out: dict[str, Any] = {
        "pipeline_vs_model_alone": round(z["chunks_per_s"] / m["chunks_per_s"], 3),
        # On a machine the model alone saturates, throughput follows CPU per chunk.
        "pipeline_vs_model_alone_by_cpu": round(m["cpu_ms_per_chunk"] / z["cpu_ms_per_chunk"], 3),
        "pipeline_vs_model_alone_per_round": [
            round(
                (a["chunks"] / a["resources"]["wall_s"]) / (b["chunks"] / b["resources"]["wall_s"]),
                3,
            )
            for a, b in zip(by["zhiku"], by["model_alone"], strict=True)
        ],
    }
    for name, peer in totals.items():
        if not name.startswith("llamaindex:"):
            continue
        key = name.removeprefix("llamaindex:")
        out[f"pipeline_vs_llamaindex_{key}_docs_per_s"] = round(
            z["docs_per_s"] / peer["docs_per_s"], 3
        )
        out[f"pipeline_vs_llamaindex_{key}_chunks_vs_nodes_per_s"] = round(
            z["chunks_per_s"] / peer["chunks_per_s"], 3
        )
        out[f"pipeline_vs_llamaindex_{key}_docs_per_s_per_round"] = [
            round(
                (a["documents"] / a["resources"]["wall_s"])
                / (b["documents"] / b["resources"]["wall_s"]),
                3,
            )
            for a, b in zip(by["zhiku"], by[name], strict=True)
        ]
    return out


def _pipeline_facts(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    wall = sum(r["resources"]["wall_s"] for r in rounds)

    def total(stage: str, key: str) -> float:
        return sum(float(r["detail"]["stages"][stage][key]) for r in rounds)

    # Time with at least one model call running (older results: the sum of call times).
    dense = [r["detail"]["stages"]["dense"] for r in rounds]
    dense_s = sum(float(d.get("busy_s", d["seconds"])) for d in dense)
    dense_items = total("dense", "items")
    dense_calls = total("dense", "calls")
    docs = sum(r["documents"] for r in rounds)
    return {
        "wall_s": round(wall, 2),
        "submit_s": round(sum(r["detail"]["submit_s"] for r in rounds), 2),
        "first_ready_s_round1": rounds[0]["detail"]["first_ready_s"],
        "model_busy_share_of_wall": round(dense_s / wall, 3),
        "model_chunks_per_s_inside_pipeline": round(dense_items / dense_s, 2) if dense_s else 0,
        "dense_calls": int(dense_calls),
        "chunks_per_dense_call": round(dense_items / dense_calls, 1) if dense_calls else 0,
        "sparse_s": round(total("sparse", "seconds"), 2),
        "upsert_s": round(total("upsert", "seconds"), 2),
        "sql_statements_per_doc": round(total("sql", "statements") / max(1, docs), 1),
        "sql_commits_per_doc": round(total("sql", "commits") / max(1, docs), 1),
        "sql_s": round(total("sql", "seconds"), 2),
        "parse_in_child_s": round(total("parse_in_child", "total_s"), 2),
        "parse_in_child_p50_s": rounds[0]["detail"]["stages"]["parse_in_child"]["p50_s"],
        "embed_job_p50_s_round1": rounds[0]["detail"]["stages"]["embed_jobs"]["p50_s"],
        "cpu_main_s": round(sum(r["resources"]["cpu_main_s"] for r in rounds), 1),
        "cpu_parse_child_s": round(sum(r["resources"]["cpu_children_s"] for r in rounds), 1),
        "cpu_main_by_thread_s": _threads(rounds),
        "failed": sum(r["detail"]["failed"] for r in rounds),
        "rejected": sum(r["detail"]["rejected"] for r in rounds),
        "reused": sum(r["detail"]["reused"] for r in rounds),
    }


def _threads(rounds: list[dict[str, Any]]) -> dict[str, float]:
    kept = ("zhiku-parse", "zhiku-embed", "MainThread", "native", "exited")
    out: dict[str, float] = defaultdict(float)
    for run in rounds:
        for name, seconds in run["resources"]["cpu_by_thread_s"].items():
            out[name if name in kept else "other"] += seconds
    return {k: round(v, 1) for k, v in sorted(out.items(), key=lambda kv: -kv[1])}


def report(result: dict[str, Any]) -> str:
    headers = [
        "Run",
        "Docs",
        "Chunks",
        "Wall s",
        "Docs/s",
        "Chunks/s",
        "CPU ms/chunk",
        "Tokens/chunk",
    ]
    parts = []
    for corpus, summary in result["summary"].items():
        rows = []
        for name, t in summary["competitors"].items():
            rows.append(
                [
                    LABELS.get(name, name),
                    f"{t['documents']:,}" if t["documents"] else "",
                    f"{t['chunks']:,}",
                    f"{t['wall_s']:.1f}",
                    f"{t['docs_per_s']:.2f}" if t["docs_per_s"] else "",
                    f"{t['chunks_per_s']:.1f}",
                    f"{t['cpu_ms_per_chunk']:.0f}",
                    f"{t['mean_tokens_per_chunk']:.0f}",
                ]
            )
        parts.append(f"### {corpus}\n\n" + markdown_table(headers, rows))
        parts.append(_verdicts(summary))
    m = result["machine"]
    parts.append(
        f"Machine: {m['usable_cpus']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB; load average"
        f" {m['load_average_at_start']} at start, {result['load_average_at_end']} at end;"
        f" {result['total_s']:.0f} s in all."
        + (f" {result['stopped_early']}." if result.get("stopped_early") else "")
    )
    return "\n\n".join(parts)


def _verdicts(summary: dict[str, Any]) -> str:
    r = summary["ratios"]
    if not r:
        return ""
    share = r["pipeline_vs_model_alone"]
    verdict = "met" if share >= TARGET_MODEL_SHARE else "missed"
    lines = [
        f"- pipeline / model alone: {share:.2f} by wall time, "
        f"{r['pipeline_vs_model_alone_by_cpu']:.2f} by CPU per chunk "
        f"(target >= {TARGET_MODEL_SHARE:.2f}: {verdict});"
        f" per round {r['pipeline_vs_model_alone_per_round']}"
    ]
    for key, value in r.items():
        if key.endswith("_docs_per_s"):
            peer = key.removeprefix("pipeline_vs_llamaindex_").removesuffix("_docs_per_s")
            lines.append(
                f"- pipeline / LlamaIndex + {peer}: {value:.2f} in docs/s "
                f"({'beats' if value > 1 else 'does not beat'} it); per round "
                f"{r[key + '_per_round']}"
            )
    z = summary["competitors"].get("zhiku")
    if z:
        lines.append(
            f"- pipeline peak RSS (process tree, parse child included): "
            f"{z['peak_rss_tree_mib_round1']:,.0f} MiB in round 1 "
            f"(max {z['peak_rss_tree_mib_max']:,.0f} MiB over all rounds)"
        )
    return "\n".join(lines)
