"""Every file of a collection through Zhiku's parser, one at a time: what became of it
(indexed with text, failed with a reason, refused with a reason), how long it took, and for
converted files (LibreOffice, pandoc) the converter's share of that time and its peak memory.

    python -m bench.file_outcomes                          # ../shared/data/docs
    python -m bench.file_outcomes --root DIR --out results.json

Groundtruth folders (docling's expected output) are skipped. The summary per format gives
files per second of parse wall time on this machine, which is shared and noisy: compare
formats within one run, not runs on different days.
"""

from __future__ import annotations

import argparse
import datetime
import json
import resource
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from core.errors import InvalidInput, UnprocessableDocument, UnsupportedFormat
from core.settings import LimitsSettings
from core.settings_parsing import ParsingSettings
from ingest.archives import is_archive, unpack
from ingest.parsing import parse_document

DEFAULT_ROOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "docs"


def outcome_of(path: Path, settings: ParsingSettings, limits: LimitsSettings) -> dict[str, Any]:
    data = path.read_bytes()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    record: dict[str, Any] = {"file": str(path), "bytes": len(data)}
    try:
        if is_archive(data, path.name):
            unpacked = unpack(data, path.name, limits)
            record.update(
                outcome="indexed" if unpacked.members else "failed",
                format="zip",
                members=len(unpacked.members),
                refused_members=len(unpacked.refused),
            )
        else:
            parsed = parse_document(data, path.name, settings, limits)
            text = sum(len(e.text) for e in parsed.elements)
            meta = parsed.metadata
            record.update(
                outcome="indexed",
                format=meta.get("format"),
                elements=len(parsed.elements),
                characters=text,
                converter=meta.get("converter"),
                convert_seconds=meta.get("convert_seconds"),
                pages=meta.get("pages") or meta.get("image_pages"),
                strategy=meta.get("strategy"),
            )
    except UnsupportedFormat as exc:
        record.update(outcome="refused", reason=str(exc))
    except (UnprocessableDocument, InvalidInput) as exc:
        record.update(outcome="failed", reason=str(exc))
    except Exception as exc:  # a crash is a finding, not the end of the run
        record.update(outcome="crashed", reason=f"{type(exc).__name__}: {exc}"[:500])
    record["seconds"] = round(time.perf_counter() - started, 3)
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if children_after > children_before:
        record["children_peak_rss_mib"] = round(children_after / 1024, 1)
    if "format" not in record:
        record["format"] = path.suffix.lower().lstrip(".") or "(none)"
    return record


def summary(records: list[dict[str, Any]]) -> dict[str, Any]:
    by_format: dict[str, dict[str, Any]] = defaultdict(
        lambda: {"files": 0, "indexed": 0, "failed": 0, "refused": 0, "crashed": 0, "seconds": 0.0}
    )
    for record in records:
        row = by_format[str(record["format"])]
        row["files"] += 1
        row[record["outcome"]] += 1
        row["seconds"] += record["seconds"]
        if record.get("convert_seconds"):
            row["convert_seconds"] = row.get("convert_seconds", 0.0) + record["convert_seconds"]
    for row in by_format.values():
        row["files_per_s"] = round(row["files"] / row["seconds"], 2) if row["seconds"] else None
        if "convert_seconds" in row:
            row["converter_share"] = round(row["convert_seconds"] / row["seconds"], 2)
        row["seconds"] = round(row["seconds"], 1)
    totals = {
        k: sum(1 for r in records if r["outcome"] == k)
        for k in ("indexed", "failed", "refused", "crashed")
    }
    return {"totals": totals, "by_format": dict(sorted(by_format.items()))}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    files = sorted(p for p in args.root.rglob("*") if p.is_file() and "groundtruth" not in p.parts)
    settings, limits = ParsingSettings(), LimitsSettings()
    records = []
    for index, path in enumerate(files, 1):
        record = outcome_of(path, settings, limits)
        record["file"] = str(path.relative_to(args.root))
        records.append(record)
        print(
            f"[{index}/{len(files)}] {record['outcome']:8} {record['seconds']:7.2f}s "
            f"{record['file']}",
            file=sys.stderr,
        )
    result = {
        "date": datetime.date.today().isoformat(),
        "root": str(args.root),
        "summary": summary(records),
        "files": records,
    }
    out = args.out or Path(__file__).parent / "results" / f"file-outcomes-{result['date']}.json"
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1), encoding="utf-8")
    print(json.dumps(result["summary"], ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
