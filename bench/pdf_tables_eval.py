"""PDF table finders against docling's groundtruth tables (issue 13).

    python -m bench.pdf_tables_eval --out bench/results/pdf-tables-2026-12-01.json

The PDFs are docling's test PDFs in ``../shared/data/docs/docling-test-data/pdf/sources``
whose groundtruth Markdown (``../groundtruth/<name>.md``) exists. Those whose groundtruth
holds tables measure recall and precision; those without a table measure the damage a finder
does to prose (every cell it reports there is a false one, and every false table splits the
page's text into fragments).

Scores, pooled over the documents (each finder's cells against the groundtruth's cells of the
same document, as multisets of normalised text: whitespace removed, case folded):

- cell precision / recall: a found cell is right when the groundtruth has a cell with the same
  text (each groundtruth cell matched once);
- row-pair precision / recall: the same for each pair of neighbouring non-empty cells of a
  row, ``(left, right)``. This is what a chunk needs: a row's values together, in order.

Finders: ``ruled`` (Zhiku's default, ``ingest.pdf_tables.find_tables`` on the pages with
enough path objects to draw a table), ``plumber-text`` (pdfplumber's text strategy on every
page), ``camelot-stream``/``camelot-lattice``/``camelot-hybrid``/``camelot-network`` where
camelot is installed and ``img2table`` (``borderless_tables=True``) where img2table is
(``pip install camelot-py img2table``; neither is a dependency of Zhiku). "No contents" scores
leave out docling's table-of-contents "tables" (dot leaders). Speed: seconds per page of each
finder's table search over all the pages, in the same process, finders in turn.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

from bench.common import machine_info, markdown_table, shared_data_dir, write_json

Rows = list[list[str]]
Finder = Callable[[bytes, Path, int, frozenset[int]], list[Rows]]
_SPACE = re.compile(r"\s+")
_SEPARATOR = re.compile(r"^\|(\s*:?-+:?\s*\|)+\s*$")


def groundtruth_tables(markdown: str) -> list[Rows]:
    """The Markdown tables of a docling groundtruth file, separator rows left out."""
    tables: list[Rows] = []
    current: Rows = []
    for line in markdown.splitlines():
        line = line.strip()
        if not line.startswith("|"):
            if current:
                tables.append(current)
                current = []
            continue
        if _SEPARATOR.match(line):
            continue
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        current.append(cells)
    if current:
        tables.append(current)
    return tables


def _norm(text: str | None) -> str:
    return _SPACE.sub("", text or "").casefold()


def cells_of(tables: list[Rows]) -> Counter[str]:
    return Counter(n for table in tables for row in table for cell in row if (n := _norm(cell)))


def pairs_of(tables: list[Rows]) -> Counter[tuple[str, str]]:
    out: Counter[tuple[str, str]] = Counter()
    for table in tables:
        for row in table:
            values = [n for cell in row if (n := _norm(cell))]
            out.update(pairwise(values))
    return out


def matched(found: Counter, truth: Counter) -> int:
    return sum((found & truth).values())


# --- finders ---------------------------------------------------------------------------------


def ruled_finder(data: bytes, path: Path, pages: int, ruled: frozenset[int]) -> list[Rows]:
    from ingest.pdf_tables import find_tables

    found = find_tables(data, sorted(ruled))
    return [t.rows for tables in found.values() for t in tables]


def plumber_text_finder(data: bytes, path: Path, pages: int, ruled: frozenset[int]) -> list[Rows]:
    import io

    import pdfplumber

    out: list[Rows] = []
    settings = {"vertical_strategy": "text", "horizontal_strategy": "text"}
    with pdfplumber.open(io.BytesIO(data)) as pdf:
        for page in pdf.pages:
            out.extend(t.extract() for t in page.find_tables(settings))
    return [[[c or "" for c in row] for row in table] for table in out]


def _camelot(flavor: str) -> Finder:
    def find(data: bytes, path: Path, pages: int, ruled: frozenset[int]) -> list[Rows]:
        import camelot

        tables = camelot.read_pdf(str(path), pages="all", flavor=flavor)
        return [table.df.values.tolist() for table in tables]

    return find


def img2table_finder(data: bytes, path: Path, pages: int, ruled: frozenset[int]) -> list[Rows]:
    from img2table.document import PDF

    document = PDF(src=data, pdf_text_extraction=True, detect_rotation=False)
    found = document.extract_tables(borderless_tables=True, implicit_rows=True)
    out: list[Rows] = []
    for tables in found.values():
        for table in tables:
            out.append([[str(v) if v is not None else "" for v in row] for row in table.df.values])
    return out


FINDERS: dict[str, Finder] = {
    "ruled": ruled_finder,
    "plumber-text": plumber_text_finder,
    "camelot-stream": _camelot("stream"),
    "camelot-lattice": _camelot("lattice"),
    "camelot-hybrid": _camelot("hybrid"),
    "camelot-network": _camelot("network"),
    "img2table": img2table_finder,
}


# --- run -------------------------------------------------------------------------------------


def documents() -> list[tuple[Path, list[Rows]]]:
    base = shared_data_dir() / "docs" / "docling-test-data" / "pdf"
    out = []
    for pdf in sorted((base / "sources").glob("*.pdf")):
        truth = base / "groundtruth" / (pdf.stem + ".md")
        if truth.exists():
            out.append((pdf, groundtruth_tables(truth.read_text(encoding="utf-8"))))
    return out


def is_contents(table: Rows) -> bool:
    """A table of contents (dot leaders to page numbers): docling calls it a table, a reader
    of the page does not, and no finder here is meant to find it."""
    return sum(1 for row in table if any(". . ." in cell for cell in row)) > len(table) / 2


def _score(found: list[Rows], truth: list[Rows]) -> dict[str, int]:
    found_cells, true_cells = cells_of(found), cells_of(truth)
    found_pairs, true_pairs = pairs_of(found), pairs_of(truth)
    return {
        "true_tables": len(truth),
        "found_tables": len(found),
        "true_cells": sum(true_cells.values()),
        "found_cells": sum(found_cells.values()),
        "cells_matched": matched(found_cells, true_cells),
        "true_pairs": sum(true_pairs.values()),
        "found_pairs": sum(found_pairs.values()),
        "pairs_matched": matched(found_pairs, true_pairs),
    }


def _summary(totals: Counter[str], prefix: str) -> dict[str, float]:
    def ratio(part: str, whole: str) -> float:
        return _ratio(totals[prefix + part], totals[prefix + whole])

    return {
        "cell_precision": ratio("cells_matched", "found_cells"),
        "cell_recall": ratio("cells_matched", "true_cells"),
        "pair_precision": ratio("pairs_matched", "found_pairs"),
        "pair_recall": ratio("pairs_matched", "true_pairs"),
    }


def evaluate(names: list[str]) -> dict[str, object]:
    from ingest.pdf import inspect_pdf

    docs = documents()
    # The page count and the pages drawing enough paths for a ruled table, read once
    # (the parser reads them anyway): not part of any finder's time.
    layouts = {path: inspect_pdf(path.read_bytes(), 10_000, read_text=True) for path, _ in docs}
    per_finder: dict[str, dict[str, float]] = {}
    per_doc: list[dict[str, object]] = []
    for name in names:
        finder = FINDERS[name]
        totals = Counter[str]()
        seconds = 0.0
        for path, truth in docs:
            data = path.read_bytes()
            pages = layouts[path].page_count
            start = time.perf_counter()
            try:
                found = finder(data, path, pages, layouts[path].ruled)
            except Exception as exc:  # a finder that fails on a file scores nothing there
                print(f"{name} failed on {path.name}: {exc!r}", file=sys.stderr)
                found = []
            seconds += time.perf_counter() - start
            score = _score(found, truth)
            per_doc.append({"finder": name, "file": path.name, "pages": pages, **score})
            totals["pages"] += pages
            group = "with:" if truth else "without:"
            for key, value in score.items():
                totals[group + key] += value
            if truth:
                # The same, leaving docling's table-of-contents "tables" out of the truth.
                contents = [t for t in truth if is_contents(t)]
                kept = [t for t in truth if not is_contents(t)]
                found_kept = [f for f in found if not is_contents(f)] if contents else found
                for key, value in _score(found_kept, kept).items():
                    totals["nocontents:" + key] += value
        per_finder[name] = {
            **_summary(totals, "with:"),
            **{f"{k}_without_contents": v for k, v in _summary(totals, "nocontents:").items()},
            "tables_on_table_free_docs": totals["without:found_tables"],
            "cells_on_table_free_docs": totals["without:found_cells"],
            "seconds_per_page": round(seconds / max(totals["pages"], 1), 4),
            "pages": totals["pages"],
        }
    return {"finders": per_finder, "documents": per_doc}


def _ratio(part: int, whole: int) -> float:
    return round(part / whole, 3) if whole else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--finders", default="ruled,plumber-text")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    result = evaluate(args.finders.split(","))
    header = [
        "finder",
        "cell P",
        "cell R",
        "row-pair P",
        "row-pair R",
        "cell P / R, no contents",
        "tables on table-free docs",
        "s/page",
    ]
    rows = [
        [
            name,
            s["cell_precision"],
            s["cell_recall"],
            s["pair_precision"],
            s["pair_recall"],
            f"{s['cell_precision_without_contents']} / {s['cell_recall_without_contents']}",
            s["tables_on_table_free_docs"],
            s["seconds_per_page"],
        ]
        for name, s in result["finders"].items()  # type: ignore[union-attr]
    ]
    print(markdown_table(header, rows))
    if args.out:
        write_json(args.out, {"machine": machine_info(), **result})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
