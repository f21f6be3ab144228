"""The two PDF text-layer readers side by side: pdfium (Zhiku's default) against unstructured's
``fast`` strategy (pdfminer), on the real PDFs in ``../shared/data/docs``.

    python -m bench.pdf_readers --out bench/results/pdf_readers.json

Per file and reader: the time to parse and chunk (warm, same process, readers alternating),
the strategy used (a reader that finds no text layer falls back to OCR), headings found,
chunks made and, where docling ships a groundtruth Markdown rendering, the share of its
distinct words found in the chunks. Files over ``--max-pages`` and password-protected files
are left out.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium

from bench.common import machine_info, markdown_table, shared_data_dir, write_json
from core.errors import UnprocessableDocument
from core.settings import ChunkingSettings, EmbeddingSettings, LimitsSettings
from core.settings_parsing import ParsingSettings
from index.tokens import token_counter
from ingest.chunking import Chunker
from ingest.parsing import parse_document

READERS = ("pdfium", "pdfminer")
_WORD = re.compile(r"\w+")


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    docs = shared_data_dir() / "docs"
    files = _pdfs(docs, args.max_pages)
    chunker = Chunker(ChunkingSettings(), token_counter(EmbeddingSettings()))
    for reader in READERS:  # warm both: imports, spaCy, the tokenizer
        _measure(files[0], reader, chunker, None)
    rows: list[dict[str, Any]] = []
    for path in files:
        truth = _groundtruth(path)
        row: dict[str, Any] = {"file": path.name}
        for reader in READERS:
            row[reader] = _measure(path, reader, chunker, truth)
        rows.append(row)
        print(_line(row), flush=True)
    summary = _summary(rows)
    print(_report(summary))
    if args.out:
        write_json(Path(args.out), {"machine": machine_info(), "files": rows, "summary": summary})
    return 0


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.pdf_readers", description=__doc__)
    parser.add_argument("--max-pages", type=int, default=100, help="leave out longer PDFs")
    parser.add_argument("--out", help="where to write the JSON result")
    return parser.parse_args(argv)


def _pdfs(docs: Path, max_pages: int) -> list[Path]:
    candidates = sorted((docs / "docling-test-data" / "pdf" / "sources").glob("*.pdf"))
    candidates += sorted((docs / "unstructured-example-docs" / "pdf").glob("*.pdf"))
    kept = []
    for path in candidates:
        try:
            document = pdfium.PdfDocument(path.read_bytes())
        except pdfium.PdfiumError:
            continue  # password-protected
        pages = len(document)
        document.close()
        if pages <= max_pages:
            kept.append(path)
    return kept


def _groundtruth(path: Path) -> set[str] | None:
    markdown = path.parent.parent / "groundtruth" / f"{path.stem}.md"
    if not markdown.exists():
        return None
    text = re.sub(r"<!--.*?-->", " ", markdown.read_text(encoding="utf-8"), flags=re.DOTALL)
    return {word.lower() for word in _WORD.findall(text)}


def _measure(path: Path, reader: str, chunker: Chunker, truth: set[str] | None) -> dict[str, Any]:
    settings = ParsingSettings(pdf_text=reader)  # type: ignore[arg-type]
    started = time.perf_counter()
    try:
        parsed = parse_document(path.read_bytes(), path.name, settings, LimitsSettings())
    except UnprocessableDocument as exc:
        return {"error": str(exc), "seconds": round(time.perf_counter() - started, 4)}
    chunks = chunker.chunk(parsed.elements)
    seconds = time.perf_counter() - started
    found = {word.lower() for chunk in chunks for word in _WORD.findall(chunk.text)}
    return {
        "seconds": round(seconds, 4),
        "strategy": parsed.metadata.get("strategy"),
        "headings": sum(element.kind == "title" for element in parsed.elements),
        "chunks": len(chunks),
        "groundtruth_share": round(len(truth & found) / len(truth), 3) if truth else None,
    }


def _line(row: dict[str, Any]) -> str:
    cells = [row["file"][:36].ljust(36)]
    for reader in READERS:
        result = row[reader]
        if "error" in result:
            cells.append(f"{reader}: failed ({result['error'][:40]})")
            continue
        share = result["groundtruth_share"]
        cells.append(
            f"{reader}: {result['seconds'] * 1000:6.0f} ms, {result['strategy']}, "
            f"{result['headings']} headings, {result['chunks']} chunks"
            + (f", groundtruth {share:.3f}" if share is not None else "")
        )
    return " | ".join(cells)


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Totals over the files whose text layer pdfium read (the rest are scans, OCR'd by both)."""
    text_layer = [row for row in rows if row["pdfium"].get("strategy") == "pdfium"]
    out: dict[str, Any] = {"files": len(rows), "text_layer_files": len(text_layer)}
    for reader in READERS:
        results = [row[reader] for row in text_layer]
        read = [r for r in results if r.get("strategy") in ("pdfium", "fast")]
        shares = [r["groundtruth_share"] for r in results if r.get("groundtruth_share")]
        out[reader] = {
            "total_s": round(sum(r["seconds"] for r in results), 2),
            "total_without_ocr_s": round(sum(r["seconds"] for r in read), 2),
            "per_file_ms": [
                round(min(r["seconds"] for r in read) * 1000),
                round(max(r["seconds"] for r in read) * 1000),
            ],
            "missed_text_layer": [
                row["file"]
                for row in text_layer
                if row[reader].get("strategy") not in ("pdfium", "fast")
            ],
            "groundtruth_files": len(shares),
            "groundtruth_lowest": min(shares, default=None),
            "groundtruth_median": statistics.median(shares) if shares else None,
        }
    return out


def _report(summary: dict[str, Any]) -> str:
    rows = []
    for reader in READERS:
        facts = summary[reader]
        rows.append(
            [
                reader,
                facts["total_s"],
                facts["total_without_ocr_s"],
                "–".join(str(v) for v in facts["per_file_ms"]),
                f"{facts['groundtruth_lowest']} / {facts['groundtruth_median']}",
                ", ".join(facts["missed_text_layer"]) or "none",
            ]
        )
    headers = [
        "Reader",
        "Total s",
        "Without OCR s",
        "Per file ms",
        "Groundtruth low / median",
        "Missed",
    ]
    return f"{summary['text_layer_files']} PDFs with a text layer\n\n" + markdown_table(
        headers, rows
    )


if __name__ == "__main__":
    sys.exit(main())
