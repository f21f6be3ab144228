"""The warm LibreOffice converter: one soffice per process converts file after file (no start
per file), with the cold converter's guarantees kept: a deadline per file (past it the soffice
is killed and the next file gets a new one), an address-space limit, a fresh profile per soffice
that disables macros and is removed with it, no network, and a soffice that died replaced.
Real LibreOffice throughout, on Chinese/English files it saved itself."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from core.errors import UnprocessableDocument
from ingest import office_convert, office_warm
from ingest.office_convert import _REGISTRY, ConvertLimits, convert
from tests.ingest.helpers import parse_bytes
from tests.ingest.test_office_convert import (
    CONTRACT,
    SHEET_ROW,
    SLIDE_BODY,
    _docx,
    _pptx,
    _xlsx,
)

_SAVE_AS = {
    "doc": ("docx", "MS Word 97"),
    "odt": ("docx", "writer8"),
    "xls": ("xlsx", "MS Excel 97"),
    "ppt": ("pptx", "MS PowerPoint 97"),
}


@pytest.fixture(scope="module")
def office() -> Iterator[office_warm.WarmOffice]:
    converter = office_warm.WarmOffice("soffice", office_warm.SYSTEM_PYTHON, 3072, _REGISTRY)
    yield converter
    converter.close()


@pytest.fixture(scope="module")
def legacy(office: office_warm.WarmOffice) -> dict[str, bytes]:
    """.doc/.odt/.xls/.ppt saved by LibreOffice (a warm one) from files written here."""
    sources = {"docx": _docx(), "xlsx": _xlsx(), "pptx": _pptx()}
    made: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as work:
        for target, (source, export_filter) in _SAVE_AS.items():
            path = Path(work) / f"fixture.{source}"
            path.write_bytes(sources[source])
            out = Path(work) / f"fixture.{target}"
            assert office.convert(path, out, export_filter, 120)
            made[target] = out.read_bytes()
    assert office.starts == 1  # four files, one soffice
    return made


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_the_system_python_has_uno() -> None:
    # Debian's python3-uno (scripts/install.sh): without it every file starts a soffice.
    assert office_warm.available()


def test_one_soffice_converts_file_after_file(legacy: dict[str, bytes]) -> None:
    texts = {}
    for kind in ("doc", "odt", "xls", "ppt"):
        parsed = parse_bytes(legacy[kind], f"文件.{kind}")
        assert parsed.metadata["converter"] == "libreoffice"
        texts[kind] = "\n".join(e.text for e in parsed.elements)
        if kind == "doc":
            pids = office_warm.pool().soffice_pids()
            assert len(pids) == 1 and _alive(pids[0])
    assert CONTRACT in texts["doc"] and CONTRACT in texts["odt"]
    assert " | ".join(SHEET_ROW) in texts["xls"]
    assert SLIDE_BODY in texts["ppt"]
    assert office_warm.pool().soffice_pids() == pids  # the same soffice did all four


def test_a_file_past_its_deadline_kills_soffice_and_the_next_gets_a_new_one(
    legacy: dict[str, bytes],
) -> None:
    convert(legacy["doc"], "a.doc", "doc", ConvertLimits())
    [before] = office_warm.pool().soffice_pids()
    with pytest.raises(UnprocessableDocument, match="took longer than"):
        convert(legacy["doc"], "slow.doc", "doc", ConvertLimits(timeout_s=0.01))
    assert not _alive(before)
    assert convert(legacy["doc"], "b.doc", "doc", ConvertLimits()).file_format == "docx"
    assert office_warm.pool().soffice_pids() not in ([], [before])


def test_the_memory_limit_holds_and_a_dead_soffice_is_replaced(legacy: dict[str, bytes]) -> None:
    with pytest.raises(UnprocessableDocument, match="needed more than 64 MiB"):
        convert(legacy["xls"], "big.xls", "xls", ConvertLimits(max_memory_mib=64))
    convert(legacy["xls"], "a.xls", "xls", ConvertLimits())
    [pid] = office_warm.pool().soffice_pids()
    for process in psutil.Process(pid).children(recursive=True):
        process.kill()  # soffice.bin dies between two files
    assert convert(legacy["xls"], "b.xls", "xls", ConvertLimits()).file_format == "xlsx"


def test_fresh_profile_without_macros_removed_with_its_soffice_and_no_network(
    legacy: dict[str, bytes],
) -> None:
    prefix = office_convert._no_network_prefix()  # what convert() runs it under
    converter = office_warm.WarmOffice(
        "soffice", office_warm.SYSTEM_PYTHON, 3072, _REGISTRY, prefix
    )
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "a.doc"
        source.write_bytes(legacy["doc"])
        assert converter.convert(source, Path(work) / "a.docx", "MS Word 2007 XML", 120)
        profile = converter._profile
        assert profile is not None
        registry = (profile / "user" / "registrymodifications.xcu").read_text()
        assert '"DisableMacrosExecution" oor:op="fuse"><value>true' in registry
        assert '"MacroSecurityLevel" oor:op="fuse"><value>3' in registry
        if prefix:  # the kernel allows it (as root: always)
            theirs = os.readlink(f"/proc/{converter.soffice_pid}/ns/net")
            assert theirs != os.readlink("/proc/self/ns/net")
        converter.close()
        assert not profile.exists()
        # The next soffice gets a profile of its own.
        assert converter.convert(source, Path(work) / "b.docx", "MS Word 2007 XML", 120)
        assert converter._profile != profile
        converter.close()


def test_a_file_it_cannot_open_fails_with_a_reason(legacy: dict[str, bytes]) -> None:
    with pytest.raises(UnprocessableDocument, match=r"could not convert broken\.doc"):
        convert(b"\xd0\xcf\x11\xe0" + b"\0" * 600, "broken.doc", "doc", ConvertLimits())
    # ...and the converter goes on.
    assert convert(legacy["ppt"], "a.ppt", "ppt", ConvertLimits()).file_format == "pptx"


def test_an_idle_soffice_is_ended_and_the_next_file_starts_one(legacy: dict[str, bytes]) -> None:
    convert(legacy["odt"], "a.odt", "odt", ConvertLimits())
    [pid] = office_warm.pool().soffice_pids()
    office_warm.pool().reap(idle_s=3600)  # used just now: kept
    assert office_warm.pool().soffice_pids() == [pid]
    office_warm.pool().reap(idle_s=0)
    assert office_warm.pool().soffice_pids() == [] and not _alive(pid)
    assert convert(legacy["odt"], "b.odt", "odt", ConvertLimits()).file_format == "docx"


def test_a_closed_soffice_leaves_no_socket_in_tmp(legacy: dict[str, bytes]) -> None:
    # soffice is killed, so it never removes its IPC sockets: two were left in /tmp per start.
    converter = office_warm.WarmOffice("soffice", office_warm.SYSTEM_PYTHON, 3072, _REGISTRY)
    with tempfile.TemporaryDirectory() as work:
        source = Path(work) / "a.doc"
        source.write_bytes(legacy["doc"])
        assert converter.convert(source, Path(work) / "a.docx", "MS Word 2007 XML", 120)
        sockets = list(converter._pipes)
        assert len(sockets) == 2 and all(path.is_socket() for path in sockets)
        converter.close()
    assert not [path for path in sockets if path.exists()]
