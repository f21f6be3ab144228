"""LibreOffice conversion per file, each way of running it side by side in one run: the files are
``.doc``/``.xls``/``.ppt``/``.odt`` saved by LibreOffice itself from Chinese/English content
written here, and each option converts them all to DOCX/XLSX/PPTX.

    python -m bench.office_warm [--per-format 3] [--out bench/results/office-warm.json]

Options:

- ``cold``: one soffice start per file on a profile kept per process (the converter before the
  warm one; still the fallback without ``python3-uno``);
- ``fresh-profile``: one start per file on a new, empty profile (what a fresh profile per file
  would cost: LibreOffice builds it at start);
- ``profile-copy``: one start per file on a copy of a profile built once (a fresh profile per
  file without its build);
- ``batch``: one start per target format for all the files of that target;
- ``warm``: :mod:`ingest.office_warm`, one soffice kept running, fed over UNO (shipped).

Also the resident memory of the warm converter's processes (helper, soffice) after the run.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from ingest import office_warm
from ingest.office_convert import (
    _REGISTRY,
    LIBREOFFICE_TARGETS,
    ConvertLimits,
    _run,
    convert,
)
from ingest.soffice_flags import SOFFICE_FLAGS

_SAVE_AS = {"doc": "MS Word 97", "odt": "writer8", "xls": "MS Excel 97", "ppt": "MS PowerPoint 97"}
_SOURCE = {"doc": "docx", "odt": "docx", "xls": "xlsx", "ppt": "pptx"}


def _sources(index: int) -> dict[str, bytes]:
    import docx
    import openpyxl
    import pptx

    document = docx.Document()
    document.add_heading(f"采购合同 第{index}号 Purchase contract {index}", level=1)
    for line in range(40):
        document.add_paragraph(f"第{line}条 甲方应于交货后三十日内付款。Clause {line}: payment.")
    out_docx = io.BytesIO()
    document.save(out_docx)
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["年份 Year", "评级 Rating", "机构 Agency"])
    for row in range(200):
        sheet.append([2000 + row, "AA+", f"中诚信国际 {index}"])
    out_xlsx = io.BytesIO()
    book.save(out_xlsx)
    deck = pptx.Presentation()
    for slide_no in range(5):
        slide = deck.slides.add_slide(deck.slide_layouts[1])
        slide.shapes.title.text = f"第三季度经营情况 Q3 review {index}.{slide_no}"
        slide.placeholders[1].text = "华东区营收增长百分之十二 East revenue up 12%"
    out_pptx = io.BytesIO()
    deck.save(out_pptx)
    return {"docx": out_docx.getvalue(), "xlsx": out_xlsx.getvalue(), "pptx": out_pptx.getvalue()}


def make_files(per_format: int) -> list[tuple[str, bytes]]:
    """(format, bytes) saved by LibreOffice (the warm converter, so making them is quick)."""
    files: list[tuple[str, bytes]] = []
    with (
        tempfile.TemporaryDirectory() as work,
        office_warm.pool().take("soffice", office_warm.SYSTEM_PYTHON, 3072, _REGISTRY) as office,
    ):
        for index in range(per_format):
            sources = _sources(index)
            for fmt, filter_name in _SAVE_AS.items():
                source = Path(work) / f"s{index}.{_SOURCE[fmt]}"
                source.write_bytes(sources[_SOURCE[fmt]])
                target = Path(work) / f"t{index}.{fmt}"
                assert office.convert(source, target, filter_name, 120)
                files.append((fmt, target.read_bytes()))
    return files


def _cold_on(profile: Path, fmt: str, data: bytes, work: Path, limits: ConvertLimits) -> None:
    target, export_filter = LIBREOFFICE_TARGETS[fmt]
    source = work / f"source.{fmt}"
    source.write_bytes(data)
    command = [
        shutil.which("soffice") or "soffice",
        f"-env:UserInstallation={profile.as_uri()}",
        *SOFFICE_FLAGS,
        "--convert-to",
        export_filter,
        "--outdir",
        str(work / "out"),
        str(source),
    ]
    _run(command, limits, what="bench")
    assert (work / "out" / f"source.{target}").stat().st_size > 0


def _new_profile(root: Path) -> Path:
    profile = Path(tempfile.mkdtemp(dir=root))
    (profile / "user").mkdir()
    (profile / "user" / "registrymodifications.xcu").write_text(_REGISTRY, encoding="utf-8")
    return profile


def run(files: list[tuple[str, bytes]]) -> dict[str, Any]:
    cold = ConvertLimits(warm=False)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        template = _new_profile(root)
        _cold_on(template, files[0][0], files[0][1], Path(tempfile.mkdtemp(dir=root)), cold)

        def fresh(fmt: str, data: bytes) -> None:
            _cold_on(_new_profile(root), fmt, data, Path(tempfile.mkdtemp(dir=root)), cold)

        def copied(fmt: str, data: bytes) -> None:
            profile = Path(tempfile.mkdtemp(dir=root)) / "p"
            shutil.copytree(template, profile)
            _cold_on(profile, fmt, data, Path(tempfile.mkdtemp(dir=root)), cold)

        options = {
            "cold": lambda fmt, data: convert(data, f"x.{fmt}", fmt, cold),
            "fresh-profile": fresh,
            "profile-copy": copied,
            "warm": lambda fmt, data: convert(data, f"x.{fmt}", fmt, ConvertLimits()),
        }
        convert(files[0][1], "warmup", files[0][0], ConvertLimits())  # the warm start, once
        convert(files[0][1], "warmup", files[0][0], cold)  # the kept profile, once
        # Interleaved by file, so that the machine's load falls on every option alike.
        seconds: dict[str, dict[str, float]] = {name: {} for name in options}
        for fmt, data in files:
            for name, option in options.items():
                started = time.perf_counter()
                option(fmt, data)
                seconds[name][fmt] = seconds[name].get(fmt, 0.0) + time.perf_counter() - started
        seconds["batch"] = _batch(files, root, cold)
        count = {fmt: sum(1 for f, _ in files if f == fmt) for fmt, _ in files}
        for name, by_format in seconds.items():
            total = sum(by_format.values())
            results[name] = {
                "s_per_file": total / len(files),
                "files_per_s": len(files) / total,
                "s_per_file_by_format": {f: by_format[f] / count[f] for f in by_format},
            }
    results["warm_rss_mib"] = _warm_rss()
    return results


def _batch(files: list[tuple[str, bytes]], root: Path, limits: ConvertLimits) -> dict[str, float]:
    """One soffice per target format, all its files in one ``--convert-to``."""
    by_target: dict[str, list[tuple[str, bytes]]] = {}
    for fmt, data in files:
        by_target.setdefault(LIBREOFFICE_TARGETS[fmt][1], []).append((fmt, data))
    seconds: dict[str, float] = {}
    profile = _new_profile(root)
    _cold_on(profile, files[0][0], files[0][1], Path(tempfile.mkdtemp(dir=root)), limits)
    for export_filter, group in by_target.items():
        work = Path(tempfile.mkdtemp(dir=root))
        paths = []
        for index, (fmt, data) in enumerate(group):
            path = work / f"f{index}.{fmt}"
            path.write_bytes(data)
            paths.append(str(path))
        command = [
            shutil.which("soffice") or "soffice",
            f"-env:UserInstallation={profile.as_uri()}",
            *SOFFICE_FLAGS,
            "--convert-to",
            export_filter,
            "--outdir",
            str(work / "out"),
            *paths,
        ]
        started = time.perf_counter()
        _run(command, limits, what="bench")
        elapsed = time.perf_counter() - started
        assert len(list((work / "out").iterdir())) == len(group)
        for fmt, _ in group:
            seconds[fmt] = seconds.get(fmt, 0.0) + elapsed / len(group)
    return seconds


def _warm_rss() -> dict[str, float]:
    pids = office_warm.pool().soffice_pids()
    total, office = 0, 0
    for pid in pids:
        try:
            head = psutil.Process(pid)
            family = [head, *head.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for process in family:
            rss = process.memory_info().rss
            total += rss
            if "soffice.bin" in process.name():
                office += rss
    return {"soffice_bin": office / 2**20, "soffice_group": total / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--per-format", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if not office_warm.available():
        raise SystemExit("the system python3 cannot import uno: apt-get install python3-uno")
    files = make_files(args.per_format)
    load_before = os.getloadavg()
    results = run(files)
    results.update(
        files=len(files),
        load_average_before=load_before,
        load_average_after=os.getloadavg(),
        cores=os.cpu_count(),
    )
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")
    office_warm.pool().close()


if __name__ == "__main__":
    main()
