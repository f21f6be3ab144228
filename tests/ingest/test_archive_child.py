"""7z and RAR archives are unpacked by libarchive in a limited child, not in the process that
received the upload: a 7z bomb is refused and a 7z whose header asks for a 4 GiB dictionary is
refused without the caller's memory or address space growing (measured in a fresh Python
process, whose peaks mean something), and a child that dies is replaced."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from core.errors import UnprocessableDocument
from core.settings import LimitsSettings
from ingest import archive_child
from ingest.archives import unpack
from tests.ingest.rar_files import seven_zip

# Unpacks ARCHIVE with LIMITS (JSON) and reports the reason and this process's peaks.
_PROBE = """
import json, sys
from pathlib import Path
from core.errors import UnprocessableDocument
from core.settings import LimitsSettings
from ingest.archives import unpack

def peaks():
    status = dict(line.split(":", 1) for line in open("/proc/self/status"))
    return {key: int(status[key].split()[0]) * 1024 for key in ("VmPeak", "VmHWM")}

data = Path(sys.argv[1]).read_bytes()
limits = LimitsSettings.model_validate_json(sys.argv[2])
before = peaks()
try:
    reason = " ".join(why for _, why in unpack(data, "bomb.7z", limits).refused)
except UnprocessableDocument as exc:
    reason = str(exc)
print(json.dumps({"reason": reason, "before": before, "after": peaks()}))
"""


def _probe(data: bytes, limits: LimitsSettings, tmp_path: Path) -> dict[str, object]:
    archive = tmp_path / "archive.7z"
    archive.write_bytes(data)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, str(archive), limits.model_dump_json()],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def _huge_dictionary(archive: bytes) -> bytes:
    """``archive`` (an LZMA 7z as libarchive writes it: a plain header) with its coder's
    dictionary size set to 4 GiB and both checksums made right again: a valid 7z that asks
    its reader for 4 GiB before the first byte."""
    offset, size, _ = struct.unpack("<QQI", archive[12:32])
    start = 32 + offset
    header = bytearray(archive[start : start + size])
    at = header.index(b"\x23\x03\x01\x01\x05\x5d")  # LZMA coder, 5 property bytes
    header[at + 6 : at + 10] = struct.pack("<I", 0xFFFFFFFF)
    tail = struct.pack("<QQI", offset, size, zlib.crc32(header))
    return archive[:8] + struct.pack("<I", zlib.crc32(tail)) + tail + archive[32:start] + header


def test_a_7z_bomb_is_refused_without_the_callers_memory_growing(tmp_path: Path) -> None:
    zeros = b"\0" * (96 * 1024 * 1024)
    bomb = seven_zip({"zeros.bin": zeros}, tmp_path)
    assert len(bomb) < 64 * 1024
    # Past the byte limit long before the ratio (allowed here): 64 MiB are inflated, in the child.
    limits = LimitsSettings(max_unpacked_bytes=64 * 1024 * 1024, max_unpacked_ratio=1e9)
    got = _probe(bomb, limits, tmp_path)
    assert "zip bomb" in str(got["reason"])
    before, after = got["before"], got["after"]
    assert isinstance(before, dict) and isinstance(after, dict)
    assert after["VmHWM"] - before["VmHWM"] < 16 * 1024 * 1024  # resident peak: unchanged


def test_a_4_gib_dictionary_is_refused_and_never_mapped_by_the_caller(tmp_path: Path) -> None:
    text = "合同金额八十万元 The amount is 800k yuan. ".encode() * 50
    hostile = _huge_dictionary(seven_zip({"合同.txt": text}, tmp_path))
    got = _probe(hostile, LimitsSettings(), tmp_path)
    assert str(got["reason"]).startswith("the file needs more memory to unpack than the limit")
    before, after = got["before"], got["after"]
    assert isinstance(before, dict) and isinstance(after, dict)
    # In-process, libarchive maps the 4 GiB at once (VmPeak grows by 4 GiB); here it did not.
    assert after["VmPeak"] - before["VmPeak"] < 512 * 1024 * 1024
    # The same archive with its real dictionary is read as usual.
    assert unpack(seven_zip({"合同.txt": text}, tmp_path), "a.7z", LimitsSettings()).members


def test_the_unpacker_is_a_reused_child_replaced_when_it_dies_or_overruns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = seven_zip({"报告.txt": "报告正文 report".encode()}, tmp_path)
    assert unpack(data, "a.7z", LimitsSettings()).members[0].data == "报告正文 report".encode()
    child = archive_child.unpacker_pid()
    assert child is not None and child != os.getpid()
    unpack(data, "b.7z", LimitsSettings())
    assert archive_child.unpacker_pid() == child  # warm: no start per archive
    os.kill(child, signal.SIGKILL)  # died between archives: the next one is not refused
    assert unpack(data, "c.7z", LimitsSettings()).members
    assert archive_child.unpacker_pid() not in (None, child)
    # 4 MiB that do not compress: carried to the child, unpacked and carried back, which no
    # machine does in a millisecond (the small archive above came back within 0.1 ms on one).
    (tmp_path / "slow").mkdir()
    slow = seven_zip({"大.bin": os.urandom(4 * 1024 * 1024)}, tmp_path / "slow")
    monkeypatch.setattr(archive_child, "TIMEOUT_S", 0.001)
    with pytest.raises(UnprocessableDocument, match=r"unpacking slow\.7z took longer than"):
        unpack(slow, "slow.7z", LimitsSettings())
    assert archive_child.unpacker_pid() is None  # killed, not left running
