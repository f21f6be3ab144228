"""The documents the ingestion benchmark submits: SciFact abstracts as .txt files, and real
PDF and DOCX files from the docling test set."""

from __future__ import annotations

import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import chain, zip_longest
from pathlib import Path

from core.settings import Settings

SCIFACT_SIZE = 5183
XQUAD_R_ZH_SIZE = 1192


@dataclass(frozen=True)
class SourceDoc:
    filename: str
    data: bytes
    kind: str  # "txt", "pdf" or "docx"


def scifact(data_dir: Path, limit: int = 0) -> list[SourceDoc]:
    """The BEIR corpus, one .txt per record: "title\\n\\ntext", as a user would upload it."""
    docs: list[SourceDoc] = []
    with (data_dir / "scifact" / "corpus.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            body = f"{record['title']}\n\n{record['text']}"
            docs.append(SourceDoc(f"scifact-{record['_id']}.txt", body.encode("utf-8"), "txt"))
            if limit and len(docs) >= limit:
                break
    return docs


def xquad_r_zh(data_dir: Path, limit: int = 0) -> list[SourceDoc]:
    """xquad-r-zh's passages (Simplified Chinese), one .txt per record. The passage alone: its
    "title" is the English article id (``Super_Bowl_50``), not text a Chinese user would
    upload, and the retrieval benchmarks leave it out too."""
    docs: list[SourceDoc] = []
    with (data_dir / "xquad-r-zh" / "corpus.jsonl").open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            name = f"xquad-r-zh-{record['_id']}.txt"
            docs.append(SourceDoc(name, record["text"].encode("utf-8"), "txt"))
            if limit and len(docs) >= limit:
                break
    return docs


def office_candidates(data_dir: Path) -> list[SourceDoc]:
    """PDFs and DOCX files taken alternately, each sorted by name, so the set is stable; when
    one format runs out the other fills the rest."""
    root = data_dir / "docs" / "docling-test-data"
    pdfs = sorted((root / "pdf" / "sources").glob("*.pdf"))
    docx = sorted((root / "docx" / "sources").glob("*.docx"))
    alternating = [p for p in chain.from_iterable(zip_longest(pdfs, docx)) if p is not None]
    return [SourceDoc(p.name, p.read_bytes(), p.suffix[1:]) for p in alternating]


def screen_files(
    candidates: list[SourceDoc], settings: Settings, count: int
) -> tuple[list[SourceDoc], list[dict[str, object]]]:
    """The first ``count`` candidates that Zhiku's own parser (run in a throw-away child
    process, as the pipeline runs it) reads without OCR and without failing; and what it
    found on every file it tried, the excluded ones with the reason."""
    accepted: list[SourceDoc] = []
    probes: list[dict[str, object]] = []
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        1, mp_context=context, initializer=_init_probe, initargs=(settings.model_dump_json(),)
    ) as pool:
        for doc in candidates:
            if len(accepted) >= count:
                break
            probe = pool.submit(_probe, doc.data, doc.filename).result(timeout=300)
            probe["file"] = doc.filename
            if probe.get("error"):
                probe["excluded"] = "fails to parse"
            elif int(probe.get("ocr_pages", 0) or 0) > 0:  # type: ignore[call-overload]
                probe["excluded"] = "needs OCR"
            else:
                accepted.append(doc)
            probes.append(probe)
    return accepted, probes


_probe_parse = None


def _init_probe(settings_json: str) -> None:
    global _probe_parse
    from bench.model_alone import parse_fn_builder
    from ingest.parsing import warm_up

    _probe_parse = parse_fn_builder()(Settings.model_validate_json(settings_json))
    warm_up()  # so the first file's time is a parse, not the imports


def _probe(data: bytes, filename: str) -> dict[str, object]:
    assert _probe_parse is not None
    started = time.perf_counter()
    try:
        chunks, facts = _probe_parse(data, filename)
    except Exception as exc:
        return {"error": f"{type(exc).__name__}: {exc}"[:300]}
    return {
        "format": facts.get("format"),
        "pages": facts.get("pages"),
        "strategy": facts.get("strategy"),
        "ocr_pages": facts.get("ocr_pages", 0),
        "parse_s": round(time.perf_counter() - started, 3),
        "chunks": len(chunks),
    }


def as_text(doc: SourceDoc) -> str:
    return doc.data.decode("utf-8")
