"""What the ``per_script`` vector layout costs ingestion: the embedding of a mixed chunk's extra
vectors, and the scan that finds mixed chunks in text that has none.

    nice -n 5 python -m bench.layout_embed_cost [--rounds 2]

On the mixed-language set with 300 mixed distractors (``bench.retrieval_mixed``), chunked with
e5's tokenizer as ingestion chunks it: the mixed chunks are embedded as the embed stage embeds
them (``workers.embed_stage._embed``), once with their extra vectors and once without, in turns
(A B B A per round) so both see the same load; and every chunk of SciFact and xquad-r-zh goes
through :func:`index.script_parts.script_parts` alone, which is all the layout adds for text in
one language. Writes ``bench/results/layout_embed_cost.json``.
"""

from __future__ import annotations

import argparse
import json
import time

from bench.common import REPO_ROOT, load_average, machine_info, shared_data_dir, write_json
from bench.retrieval_data import chunk_dataset, load_beir
from bench.retrieval_mixed import MODELS, build
from core.settings import Settings
from index.script_parts import script_parts
from workers.embed_stage import _embed


def _timed(call: object) -> tuple[float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    call()  # type: ignore[operator]
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    model = MODELS["e5"]
    settings = Settings()
    settings.embedding.model = model
    from zhiku.container import build_model

    embedder = build_model(settings)
    data = build(150, 1000, mixed_distractors=300)
    chunks = chunk_dataset(data, tokens_of=model)
    mixed = [t for t in chunks.texts if script_parts(t)]
    embedder.embed_documents(mixed[:64])  # warm-up: sessions and arenas
    runs: dict[str, list[tuple[float, float]]] = {"single": [], "per_script": []}
    for _ in range(args.rounds):
        for layout in ("single", "per_script", "per_script", "single"):
            runs[layout].append(_timed(lambda lo=layout: _embed(embedder, mixed, lo)))
    scans: dict[str, dict[str, float]] = {}
    for name in ("scifact", "xquad-r-zh"):
        texts = chunk_dataset(
            load_beir(shared_data_dir() / name, with_title=name == "scifact"), tokens_of=model
        ).texts
        wall, _ = _timed(lambda t=texts: [script_parts(x) for x in t])
        scans[name] = {
            "chunks": len(texts),
            "mixed_chunks": sum(bool(script_parts(x)) for x in texts),
            "scan_us_per_chunk": round(wall / len(texts) * 1e6, 1),
        }
    figures = {
        layout: {
            "wall_s": [round(w, 2) for w, _ in times],
            "cpu_s": [round(c, 2) for _, c in times],
            "chunks_per_s": round(len(mixed) * len(times) / sum(w for w, _ in times), 1),
        }
        for layout, times in runs.items()
    }
    single, per_script = (sum(w for w, _ in runs[k]) for k in ("single", "per_script"))
    report = {
        "machine": machine_info(),
        "load_average": load_average(),
        "started": time.strftime("%F %T"),
        "model": model,
        "set_chunks": len(chunks.texts),
        "mixed_chunks": len(mixed),
        "mixed": figures,
        "mixed_chunk_cost_ratio": round(per_script / single, 3),
        "pure_corpora": scans,
    }
    write_json(REPO_ROOT / "bench" / "results" / "layout_embed_cost.json", report)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
