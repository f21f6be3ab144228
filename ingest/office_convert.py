"""Legacy and office-suite files → the formats our parsers read: LibreOffice headless for
Word/Excel/PowerPoint 97-2003, WPS Office, RTF and OpenDocument; pandoc for EPUB.

A converted file then goes through the same partitioner as a native one (sections, tables,
slides as pages), so ``.doc`` and ``.docx`` give the same chunks.

LibreOffice is slow to start (1-2 s a file, nearly all of a conversion): where the system
Python has ``uno`` (Debian's ``python3-uno``), a warm soffice per process converts the files
(:mod:`ingest.office_warm`, under the same guarantees: deadline, memory limit, fresh profile
per soffice, no macros, no network); elsewhere soffice is started per file as below.
LibreOffice can hang on a hostile file and can grow without bound, so every conversion:

- runs in its own process group with a wall-clock deadline (the whole group is killed past it)
  and an address-space limit (``RLIMIT_AS``), in a fresh scratch folder removed afterwards;
- uses a profile folder of this process's own, created once and reused: a first start
  (building the profile) costs several seconds, a later one about one; one conversion per
  profile at a time (LibreOffice hands a second start on a busy profile to the running
  instance), so concurrent callers take distinct profiles from a small pool;
- never runs macros and never fetches linked content: the profile is written before the first
  start with macro execution disabled, the macro security level at "very high", and links
  never updated; where the kernel allows (root), the process also runs without a network
  (``unshare --net``).

Failures are the file's (``UnprocessableDocument``: corrupt, password-protected, too big, too
slow) unless the converter itself is missing, which is the installation's fault
(``FileNotFoundError`` propagates: retrying after installing it can succeed).
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import queue
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from core.errors import UnprocessableDocument
from ingest import office_warm
from ingest.soffice_flags import SOFFICE_FLAGS

logger = logging.getLogger(__name__)

# Source format key → (the format key it becomes, LibreOffice's export filter).
LIBREOFFICE_TARGETS: dict[str, tuple[str, str]] = {
    "doc": ("docx", "docx:MS Word 2007 XML"),
    "wps": ("docx", "docx:MS Word 2007 XML"),
    "rtf": ("docx", "docx:MS Word 2007 XML"),
    "odt": ("docx", "docx:MS Word 2007 XML"),
    "xls": ("xlsx", "xlsx:Calc MS Excel 2007 XML"),
    "et": ("xlsx", "xlsx:Calc MS Excel 2007 XML"),
    "ods": ("xlsx", "xlsx:Calc MS Excel 2007 XML"),
    "ppt": ("pptx", "pptx:Impress MS PowerPoint 2007 XML"),
    "dps": ("pptx", "pptx:Impress MS PowerPoint 2007 XML"),
    "odp": ("pptx", "pptx:Impress MS PowerPoint 2007 XML"),
}
# pandoc reads EPUB (a zip of XHTML chapters) better than LibreOffice, which cannot import it.
PANDOC_TARGETS: dict[str, str] = {"epub": "html"}
CONVERTED_FORMATS = frozenset(LIBREOFFICE_TARGETS) | frozenset(PANDOC_TARGETS)
# A modern Office file its parser could not read (ISO "Strict" OOXML, a file written by an
# unusual program) is saved again by LibreOffice in the common dialect and read once more.
ROUND_TRIPS: dict[str, tuple[str, str]] = {
    "docx": ("docx", "docx:MS Word 2007 XML"),
    "xlsx": ("xlsx", "xlsx:Calc MS Excel 2007 XML"),
    "pptx": ("pptx", "pptx:Impress MS PowerPoint 2007 XML"),
}

# The profile's settings, written before its first start (LibreOffice merges the rest).
_REGISTRY = """<?xml version="1.0" encoding="UTF-8"?>
<oor:items xmlns:oor="http://openoffice.org/2001/registry"
  xmlns:xs="http://www.w3.org/2001/XMLSchema"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<item oor:path="/org.openoffice.Office.Common/Security/Scripting">
  <prop oor:name="MacroSecurityLevel" oor:op="fuse"><value>3</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security/Scripting">
  <prop oor:name="DisableMacrosExecution" oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Security">
  <prop oor:name="BlockUntrustedRefererLinks" oor:op="fuse"><value>true</value></prop></item>
<item oor:path="/org.openoffice.Office.Writer/Content/Update">
  <prop oor:name="Link" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Calc/Content/Update">
  <prop oor:name="Link" oor:op="fuse"><value>0</value></prop></item>
<item oor:path="/org.openoffice.Office.Common/Misc">
  <prop oor:name="UseLocking" oor:op="fuse"><value>false</value></prop></item>
</oor:items>
"""


@dataclass(frozen=True)
class ConvertLimits:
    timeout_s: float = 120.0
    max_memory_mib: int = 3072
    soffice: str = "soffice"
    pandoc: str = "pandoc"
    # A warm soffice per process (ingest.office_warm) where the system Python has uno;
    # otherwise, or when False, one soffice start per file.
    warm: bool = True
    python: str = office_warm.SYSTEM_PYTHON


@dataclass(frozen=True)
class Converted:
    data: bytes
    file_format: str  # the format key the bytes now are
    tool: str


def convert(data: bytes, name: str, file_format: str, limits: ConvertLimits) -> Converted:
    """``data`` (a ``file_format`` file called ``name``) as bytes of the format it maps to."""
    if file_format in PANDOC_TARGETS:
        return _pandoc(data, file_format, PANDOC_TARGETS[file_format], limits)
    targets = LIBREOFFICE_TARGETS | ROUND_TRIPS
    if file_format not in targets:
        raise ValueError(f"no converter for {file_format}")
    target, export_filter = targets[file_format]
    if limits.warm and office_warm.available(limits.python):
        return _convert_warm(data, name, file_format, target, export_filter, limits)
    with _profiles().take() as profile, tempfile.TemporaryDirectory(prefix="zhiku-lo-") as work:
        source = Path(work) / f"source.{file_format}"
        source.write_bytes(data)
        out = Path(work) / "out"
        command = [
            _executable(limits.soffice),
            f"-env:UserInstallation={profile.as_uri()}",
            *SOFFICE_FLAGS,
            "--convert-to",
            export_filter,
            "--outdir",
            str(out),
            str(source),
        ]
        _run(command, limits, what=f"converting {name} with LibreOffice")
        return _produced(out / f"source.{target}", name, file_format, target)


def _convert_warm(
    data: bytes, name: str, file_format: str, target: str, export_filter: str, limits: ConvertLimits
) -> Converted:
    """The same conversion by a warm soffice (:mod:`ingest.office_warm`): same limits, same
    failures and messages."""
    what = f"converting {name} with LibreOffice"
    with (
        office_warm.pool().take(
            _executable(limits.soffice),  # FileNotFoundError, as the cold path: see above
            limits.python,
            limits.max_memory_mib,
            _REGISTRY,
            _no_network_prefix(),
        ) as office,
        tempfile.TemporaryDirectory(prefix="zhiku-lo-") as work,
    ):
        source = Path(work) / f"source.{file_format}"
        source.write_bytes(data)
        produced = Path(work) / f"out.{target}"
        try:
            office.convert(source, produced, export_filter.split(":", 1)[1], limits.timeout_s)
        except TimeoutError:
            raise UnprocessableDocument(
                f"{what} took longer than {limits.timeout_s:.0f} s: the file is too complex or "
                "damaged"
            ) from None
        except office_warm.OfficeDied:
            raise UnprocessableDocument(
                f"{what} needed more than {limits.max_memory_mib} MiB of memory or crashed"
            ) from None
        return _produced(produced, name, file_format, target)


def _produced(produced: Path, name: str, file_format: str, target: str) -> Converted:
    if not produced.is_file() or produced.stat().st_size == 0:
        # LibreOffice says nothing useful on failure: it just writes no file.
        raise UnprocessableDocument(
            f"could not convert {name}: the file is damaged, password-protected or not "
            f"really a {file_format.upper()} file"
        )
    return Converted(produced.read_bytes(), target, "libreoffice")


def _pandoc(data: bytes, file_format: str, target: str, limits: ConvertLimits) -> Converted:
    with tempfile.TemporaryDirectory(prefix="zhiku-pandoc-") as work:
        source = Path(work) / f"source.{file_format}"
        source.write_bytes(data)
        produced = Path(work) / f"out.{target}"
        command = [
            _executable(limits.pandoc),
            "--sandbox",  # no reading other files, no fetching anything
            "-f",
            file_format,
            "-t",
            target,
            "-o",
            str(produced),
            str(source),
        ]
        _run(command, limits, what=f"reading the {file_format.upper()} file")
        if not produced.is_file() or produced.stat().st_size == 0:
            raise UnprocessableDocument(f"could not read the {file_format.upper()} file")
        return Converted(produced.read_bytes(), target, "pandoc")


def _executable(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        # The installation's fault, not the file's: see the module docstring.
        raise FileNotFoundError(
            f"{name} is not installed (scripts/install.sh installs LibreOffice and pandoc)"
        )
    return path


def _run(command: list[str], limits: ConvertLimits, what: str) -> None:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": tempfile.gettempdir(),
        "LANG": "C.UTF-8",
        # No display, no desktop integration, no Java: headless conversion needs none.
        "SAL_USE_VCLPLUGIN": "svp",
    }
    memory = limits.max_memory_mib * 1024 * 1024

    def limit_child() -> None:
        if memory > 0:
            # Never above a limit this process already has (the parse child's own cap).
            _, hard = resource.getrlimit(resource.RLIMIT_AS)
            cap = memory if hard == resource.RLIM_INFINITY else min(memory, hard)
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    full = [*_no_network_prefix(), *command]
    proc = subprocess.Popen(
        full,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,  # its own process group: killed whole on timeout
        preexec_fn=limit_child,  # the child execs at once: nothing else runs in it
    )
    try:
        output, _ = proc.communicate(timeout=limits.timeout_s)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise UnprocessableDocument(
            f"{what} took longer than {limits.timeout_s:.0f} s: the file is too complex or damaged"
        ) from None
    finally:
        if proc.poll() is None:
            _kill_group(proc)
    if proc.returncode != 0:
        tail = output.decode("utf-8", "replace")[-500:] if output else ""
        logger.warning("%s failed with %s: %s", what, proc.returncode, tail)
        if proc.returncode < 0 or "bad_alloc" in tail or "std::bad_alloc" in tail:
            raise UnprocessableDocument(
                f"{what} needed more than {limits.max_memory_mib} MiB of memory or crashed"
            )
        raise UnprocessableDocument(f"{what} failed: the file is damaged or unsupported")


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


_network_checked: list[str] | None = None
_network_lock = threading.Lock()


def _no_network_prefix() -> list[str]:
    """``unshare --net --map-root-user`` where this kernel lets us: the converter then has no
    network at all (a loopback that is down). Checked once per process."""
    global _network_checked
    with _network_lock:
        if _network_checked is None:
            _network_checked = []
            unshare = shutil.which("unshare")
            if unshare:
                prefix = [unshare, "--net"] + ([] if os.geteuid() == 0 else ["--map-root-user"])
                try:
                    ok = (
                        subprocess.run(
                            [*prefix, "true"], capture_output=True, timeout=10
                        ).returncode
                        == 0
                    )
                except (OSError, subprocess.TimeoutExpired):
                    ok = False
                if ok:
                    _network_checked = prefix
        return _network_checked


class _ProfilePool:
    """LibreOffice profile folders of one process, one per concurrent conversion, reused.

    Created under the system's temporary folder and removed when the process exits."""

    def __init__(self) -> None:
        self._free: queue.SimpleQueue[Path] = queue.SimpleQueue()
        self._root = Path(tempfile.mkdtemp(prefix=f"zhiku-lo-profiles-{os.getpid()}-"))
        self._count = 0
        self._lock = threading.Lock()
        atexit.register(shutil.rmtree, self._root, True)

    @contextlib.contextmanager
    def take(self) -> Iterator[Path]:
        try:
            profile = self._free.get_nowait()
        except queue.Empty:
            profile = self._new()
        try:
            yield profile
        finally:
            self._free.put(profile)

    def _new(self) -> Path:
        with self._lock:
            self._count += 1
            profile = self._root / f"p{self._count}"
        (profile / "user").mkdir(parents=True)
        (profile / "user" / "registrymodifications.xcu").write_text(_REGISTRY, encoding="utf-8")
        return profile


# By process: a forked child must not take profiles its parent may be using.
_profiles = office_warm.per_process(_ProfilePool)
