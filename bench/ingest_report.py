"""Sums the rounds of ``bench.ingest`` per corpus and competitor, computes the ratios, and
renders the markdown tables.

    python -m bench.ingest_report bench/results/ingest-http-<date>.json
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.common import markdown_table

TARGET_MODEL_SHARE = 0.80
LABELS = {
    "zhiku:embedded": "Zhiku embedded, over HTTP (upload → ready)",
    "zhiku:celery": "Zhiku + Celery worker, over HTTP (upload → ready)",
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
    return {"competitors": totals, "ratios": _ratios(totals, by)}


def _totals(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    wall = sum(r["wall_s"] for r in rounds)
    cpu = sum(r["resources"]["cpu_s"] for r in rounds)
    docs = sum(r["documents"] for r in rounds)
    chunks = sum(r["chunks"] for r in rounds)
    out: dict[str, Any] = {
        "rounds": len(rounds),
        "documents": docs,
        "chunks": chunks,
        "wall_s": round(wall, 2),
        "cpu_s": round(cpu, 1),
        "docs_per_s": round(docs / wall, 2) if docs and wall else None,
        "chunks_per_s": round(chunks / wall, 2) if wall else None,
        "cpu_ms_per_chunk": round(1000 * cpu / chunks, 1) if chunks else None,
        "peak_rss_mib": max(r["resources"]["peak_rss_mib"] for r in rounds),
        "load_mean": round(sum(r["resources"]["load_mean"] for r in rounds) / len(rounds), 2),
    }
    if rounds[0]["competitor"].startswith("zhiku:"):
        out.update(_deployment_facts(rounds))
    return out


def _deployment_facts(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    def total(key: str) -> float:
        return round(sum(float(r["detail"][key]) for r in rounds), 2)

    def res(key: str, how: Any = sum) -> Any:
        values = [r["resources"][key] for r in rounds if key in r["resources"]]
        return round(how(values), 2) if values else None

    requests = [r["detail"]["requests"] for r in rounds]
    files = sum(r["detail"]["documents"] for r in rounds)
    return {
        "upload_s": total("upload_s"),
        "drain_s": total("drain_s"),
        "server_span_s": total("server_span_s"),
        "first_ready_s_round1": rounds[0]["detail"]["first_ready_s"],
        "ready": int(total("ready")),
        "failed": int(total("failed")),
        "rejected": int(total("rejected")),
        "reused": int(total("reused")),
        "requests": sum(q["requests"] for q in requests),
        "request_p50_ms_round1": requests[0]["latency_p50_ms"],
        "request_p95_ms_max": max(q["latency_p95_ms"] for q in requests),
        "ms_per_file": round(
            sum(
                q["ms_per_file"] * r["detail"]["documents"]
                for q, r in zip(requests, rounds, strict=True)
            )
            / max(1, files),
            2,
        ),
        "server_peak_rss_mib": res("server_peak_rss_mib", max),
        "worker_peak_rss_mib": res("worker_peak_rss_mib", max),
        "server_cpu_s": res("server_cpu_s"),
        "worker_cpu_s": res("worker_cpu_s"),
        "parser_peak_rss_mib": res("parser_peak_rss_mib", max),
        "parser_cpu_s": res("parser_cpu_s"),
        "client_cpu_s": res("client_cpu_s"),
    }


def _rate(run: dict[str, Any], key: str) -> float:
    amount = run["documents"] if key == "docs" else run["chunks"]
    return amount / run["wall_s"] if run["wall_s"] else 0.0


def _ratio(
    totals: dict[str, Any], by: dict[str, list[dict[str, Any]]], a: str, b: str, key: str
) -> dict[str, Any] | None:
    """a's rate over b's (``docs``/s or ``chunks``/s), in all and per round."""
    if a not in totals or b not in totals:
        return None
    field = f"{key}_per_s"
    if not totals[a][field] or not totals[b][field]:
        return None
    per_round = [
        round(_rate(x, key) / _rate(y, key), 3) if _rate(y, key) else None
        for x, y in zip(by[a], by[b], strict=False)
    ]
    return {"value": round(totals[a][field] / totals[b][field], 3), "per_round": per_round}


def _ratios(totals: dict[str, Any], by: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    pairs = {
        "embedded_vs_model_alone_chunks": ("zhiku:embedded", "model_alone", "chunks"),
        "celery_vs_model_alone_chunks": ("zhiku:celery", "model_alone", "chunks"),
        "celery_vs_embedded_docs": ("zhiku:celery", "zhiku:embedded", "docs"),
        "embedded_vs_llamaindex_hf_docs": (
            "zhiku:embedded",
            "llamaindex:huggingface-torch",
            "docs",
        ),
        "embedded_vs_llamaindex_onnx_docs": ("zhiku:embedded", "llamaindex:zhiku-onnx", "docs"),
        "embedded_vs_llamaindex_onnx_chunks": (
            "zhiku:embedded",
            "llamaindex:zhiku-onnx",
            "chunks",
        ),
        "celery_vs_llamaindex_hf_docs": ("zhiku:celery", "llamaindex:huggingface-torch", "docs"),
    }
    out = {}
    for name, (a, b, key) in pairs.items():
        value = _ratio(totals, by, a, b, key)
        if value is not None:
            out[name] = value
    return out


def report(result: dict[str, Any]) -> str:
    parts = [
        f"Uploads: {result['clients']} clients, {result['files_per_request']} files per request."
        f" Celery: worker concurrency {result.get('worker_concurrency', '?')}, parse workers"
        f" {result.get('parse_workers') or 'none (one worker for both queues)'}."
    ]
    for name, facts in result.get("stacks", {}).items():
        if facts.get("error"):
            parts.append(f"**{name} did not start:** {facts['error'].splitlines()[0]}")
    for corpus, summary in result["summary"].items():
        parts.append(f"### {corpus}\n\n" + _main_table(summary["competitors"]))
        deployments = {k: v for k, v in summary["competitors"].items() if k.startswith("zhiku:")}
        if deployments:
            parts.append(_time_table(deployments))
        parts.append(_ratio_lines(summary["ratios"]))
    m = result["machine"]
    parts.append(
        f"Machine: {m['usable_cpus']} CPUs ({m['cpu_model']}), {m['memory_gib']} GiB; load average"
        f" {m['load_average_at_start']} at start, {result['load_average_at_end']} at end;"
        f" {result['total_s']:.0f} s in all."
        + (f" Error: {result['error']}" if result.get("error") else "")
    )
    return "\n\n".join(p for p in parts if p)


def _main_table(competitors: dict[str, Any]) -> str:
    headers = ["Run", "Docs", "Chunks", "Wall s", "Docs/s", "Chunks/s", "CPU s", "Peak RSS MiB"]
    rows = [
        [
            LABELS.get(name, name),
            f"{t['documents']:,}" if t["documents"] else "",
            f"{t['chunks']:,}",
            f"{t['wall_s']:.1f}",
            f"{t['docs_per_s']:.2f}" if t["docs_per_s"] else "",
            f"{t['chunks_per_s']:.1f}" if t["chunks_per_s"] else "",
            f"{t['cpu_s']:.0f}",
            f"{t['peak_rss_mib']:,.0f}",
        ]
        for name, t in competitors.items()
    ]
    return markdown_table(headers, rows)


def _time_table(deployments: dict[str, Any]) -> str:
    headers = [
        "Deployment",
        "Uploads s",
        "Last upload → last ready s",
        "First ready s",
        "Request p50 ms",
        "ms/file",
        "Server RSS / CPU s",
        "Worker(s) RSS / CPU s",
        "Client CPU s",
        "Failed",
    ]
    rows = []
    for name, t in deployments.items():
        worker = ""
        if t["worker_peak_rss_mib"] is not None:
            rss = t["worker_peak_rss_mib"] + (t.get("parser_peak_rss_mib") or 0)
            cpu = t["worker_cpu_s"] + (t.get("parser_cpu_s") or 0)
            worker = f"{rss:,.0f} / {cpu:.0f}"
        rows.append(
            [
                name.removeprefix("zhiku:"),
                f"{t['upload_s']:.1f}",
                f"{t['drain_s']:.1f}",
                f"{t['first_ready_s_round1']:.1f}",
                f"{t['request_p50_ms_round1']:.0f}",
                f"{t['ms_per_file']:.1f}",
                f"{t['server_peak_rss_mib']:,.0f} / {t['server_cpu_s']:.0f}",
                worker,
                f"{t['client_cpu_s']:.1f}",
                f"{t['failed']}",
            ]
        )
    return markdown_table(headers, rows)


def _ratio_lines(ratios: dict[str, Any]) -> str:
    lines = []
    for name, r in ratios.items():
        a, _, rest = name.partition("_vs_")
        b, _, key = rest.rpartition("_")
        note = ""
        if name.endswith("model_alone_chunks"):
            verdict = "met" if r["value"] >= TARGET_MODEL_SHARE else "missed"
            note = f" (target ≥ {TARGET_MODEL_SHARE:.2f}: {verdict})"
        lines.append(
            f"- {a} / {b.replace('_', ' ')}, {key}/s: **{r['value']:.2f}**{note};"
            f" per round {r['per_round']}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(json.loads(Path(sys.argv[1]).read_text())))
