"""A warm LibreOffice: one ``soffice`` kept running per process (and per concurrent caller),
driven over UNO by :mod:`ingest.uno_helper`, so a file costs a load and a save instead of a
LibreOffice start (measured in ``docs/benchmarks.md``).

``uno`` is importable only by the system Python that Debian's ``python3-uno`` was built for, so
the helper runs under that interpreter as a child and talks JSON lines over its pipes; where it
is missing, :func:`available` is false and :mod:`ingest.office_convert` starts soffice per file
as before.

The per-file guarantees of the cold path hold:

- a wall-clock deadline per file: past it the helper's process group (the helper and soffice)
  is killed and the next file starts a new one;
- an address-space limit (``RLIMIT_AS``) on the helper, inherited by soffice; soffice is also
  replaced after ``_MAX_FILES`` files, so what one file leaks cannot pile up;
- a fresh profile folder per soffice, written before its start with macros disabled and links
  never updated, removed with it; documents are loaded hidden, read-only, with
  ``MacroExecutionMode`` never and ``UpdateDocMode`` no update;
- no network where the kernel allows (the same ``unshare --net`` prefix).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import json
import os
import queue
import resource
import selectors
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

from ingest.soffice_flags import SOFFICE_FLAGS

SYSTEM_PYTHON = "/usr/bin/python3"
_HELPER = Path(__file__).with_name("uno_helper.py")
_START_TIMEOUT_S = 90.0
# soffice is replaced after this many files: memory it kept from earlier files goes with it.
_MAX_FILES = 200
# ...and ended after this long unused (started again by the next file, ~1-2 s).
IDLE_S = 600.0
_checked: dict[str, bool] = {}
_check_lock = threading.Lock()


class OfficeDied(Exception):
    """soffice could not start under the limits, or died on the file (crash, out of memory)."""


def available(python: str = SYSTEM_PYTHON) -> bool:
    """Whether ``python`` can import ``uno`` (Debian: ``python3-uno``). Checked once."""
    with _check_lock:
        if python not in _checked:
            try:
                done = subprocess.run(
                    [python, "-I", "-c", "import uno"], capture_output=True, timeout=30
                )
                _checked[python] = done.returncode == 0
            except (OSError, subprocess.TimeoutExpired):
                _checked[python] = False
        return _checked[python]


# Where LibreOffice's IPC sockets are (osl/unx/pipe.cxx: /tmp, whatever TMPDIR says).
_PIPE_DIR = Path("/tmp")


def office_pipes(profile_uri: str, pipe: str) -> list[Path]:
    """The sockets an soffice started with this profile and ``--accept=pipe,name=<pipe>``
    creates: the accept pipe, and its single-instance pipe, named after the MD5 of the profile
    URI in UTF-16 (desktop/source/app/officeipcthread.cxx), each byte in hex unpadded."""
    digest = hashlib.md5(profile_uri.encode("utf-16-le"), usedforsecurity=False).digest()
    single = "".join(format(byte, "x") for byte in digest)
    prefix = f"OSL_PIPE_{os.getuid()}_"
    return [_PIPE_DIR / f"{prefix}{pipe}", _PIPE_DIR / f"{prefix}SingleOfficeIPC_{single}"]


class WarmOffice:
    """One helper and its soffice. Not thread-safe: :class:`_Pool` hands it to one caller."""

    def __init__(
        self,
        soffice: str,
        python: str,
        max_memory_mib: int,
        registry: str,
        prefix: Sequence[str] = (),
    ) -> None:
        # ``prefix``: what the helper runs under (``unshare --net``: no network).
        self._soffice, self._python, self._prefix = soffice, python, list(prefix)
        self._memory = max_memory_mib * 1024 * 1024
        self._registry = registry
        self._proc: subprocess.Popen[bytes] | None = None
        self._profile: Path | None = None
        self._pipes: list[Path] = []
        self.files = 0
        self.soffice_pid = 0
        self.starts = 0
        self.last_used = time.monotonic()

    def convert(self, source: Path, target: Path, export_filter: str, timeout_s: float) -> bool:
        """``source`` saved as ``target`` with LibreOffice's ``export_filter``; False when
        LibreOffice could not load or save it (damaged, password-protected, not that format).
        Raises ``TimeoutError`` past the deadline and ``OfficeDied`` when soffice dies on the
        file or cannot start; either way the pair is gone and the next file starts a new one."""
        for attempt in (1, 2):
            if self._proc is None or self._proc.poll() is not None or self.files >= _MAX_FILES:
                self.close()
                self._start(timeout_s)
            try:
                return self._once(source, target, export_filter, timeout_s)
            except OfficeDied:
                # Once more on a new soffice: the old one may have died before this file;
                # twice is this file's doing.
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def _once(self, source: Path, target: Path, export_filter: str, timeout_s: float) -> bool:
        assert self._proc is not None and self._proc.stdin is not None
        request = {"src": str(source), "dst": str(target), "filter": export_filter}
        self.files += 1
        try:
            self._proc.stdin.write(json.dumps(request).encode() + b"\n")
            self._proc.stdin.flush()
            answer = self._answer(timeout_s)
        except BrokenPipeError:
            answer = None
        if answer is None:  # no answer in time, or the pair died
            timed_out = self._proc.poll() is None
            self.close()
            if timed_out:
                raise TimeoutError
            raise OfficeDied
        if answer.get("crashed"):
            self.close()
            raise OfficeDied
        return bool(answer.get("ok"))

    def _start(self, timeout_s: float) -> None:
        self._profile = Path(tempfile.mkdtemp(prefix="zhiku-lo-warm-"))
        (self._profile / "user").mkdir()
        (self._profile / "user" / "registrymodifications.xcu").write_text(
            self._registry, encoding="utf-8"
        )
        pipe = f"zhiku-{os.getpid()}-{id(self):x}-{time.monotonic_ns()}"
        self._pipes = office_pipes(self._profile.as_uri(), pipe)
        memory = self._memory

        def limit_child() -> None:
            if memory > 0:
                _, hard = resource.getrlimit(resource.RLIMIT_AS)
                cap = memory if hard == resource.RLIM_INFINITY else min(memory, hard)
                resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": str(self._profile),
            "LANG": "C.UTF-8",
            "SAL_USE_VCLPLUGIN": "svp",
        }
        command = [
            *self._prefix,
            self._python,
            "-I",
            str(_HELPER),
            self._soffice,
            self._profile.as_uri(),
            pipe,
            *SOFFICE_FLAGS,
        ]
        self._proc = subprocess.Popen(
            command,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # the helper and soffice: one group, killed whole
            preexec_fn=limit_child,  # the child execs at once: nothing else runs in it
        )
        self.starts += 1
        self.files = 0
        ready = self._answer(max(timeout_s, _START_TIMEOUT_S))
        if not ready or not ready.get("ready"):
            self.close()
            raise OfficeDied
        self.soffice_pid = int(ready.get("pid", 0))

    def _answer(self, timeout_s: float) -> dict[str, Any] | None:
        assert self._proc is not None and self._proc.stdout is not None
        line = _read_line(self._proc.stdout, timeout_s)
        return json.loads(line) if line else None

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
            for stream in (proc.stdin, proc.stdout):
                with contextlib.suppress(OSError):
                    stream and stream.close()  # type: ignore[func-returns-value]
        if self._profile is not None:
            shutil.rmtree(self._profile, ignore_errors=True)
            self._profile = None
        # A killed soffice leaves its sockets behind, two a start, in /tmp for good.
        for socket_path in self._pipes:
            with contextlib.suppress(FileNotFoundError):
                if socket_path.is_socket():
                    socket_path.unlink()
        self._pipes = []
        self.soffice_pid = 0


def _read_line(stream: IO[bytes], timeout_s: float) -> bytes:
    """One line from the helper, or b"" at the deadline or at end of file."""
    deadline = time.monotonic() + timeout_s
    buffer = b""
    with selectors.DefaultSelector() as selector:
        selector.register(stream, selectors.EVENT_READ)
        while not buffer.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not selector.select(left):
                return b""
            chunk = os.read(stream.fileno(), 65536)
            if not chunk:
                return b""
            buffer += chunk
    return buffer


class _Pool:
    """Warm converters of one process: one per concurrent conversion, reused; a soffice idle
    for ``IDLE_S`` is ended (its ~250 MiB back), and started again by the next file."""

    def __init__(self) -> None:
        self._free: queue.SimpleQueue[WarmOffice] = queue.SimpleQueue()
        self._all: list[WarmOffice] = []
        self._lock = threading.Lock()
        atexit.register(self.close)
        threading.Thread(target=self._reap_forever, name="zhiku-lo-reaper", daemon=True).start()

    def _reap_forever(self) -> None:
        while True:
            time.sleep(60)
            self.reap(IDLE_S)

    def reap(self, idle_s: float) -> None:
        """End the soffices not used for ``idle_s``. Only free ones: those taken out of the
        queue here, so none is in use meanwhile (a caller finding it empty starts another)."""
        idle: list[WarmOffice] = []
        with contextlib.suppress(queue.Empty):
            while True:
                idle.append(self._free.get_nowait())
        now = time.monotonic()
        for office in idle:
            if now - office.last_used >= idle_s:
                office.close()
            self._free.put(office)

    @contextlib.contextmanager
    def take(
        self,
        soffice: str,
        python: str,
        max_memory_mib: int,
        registry: str,
        prefix: Sequence[str] = (),
    ) -> Iterator[WarmOffice]:
        try:
            office = self._free.get_nowait()
        except queue.Empty:
            office = WarmOffice(soffice, python, max_memory_mib, registry, prefix)
            with self._lock:
                self._all.append(office)
        # Settings may differ between calls (tests do): a converter started under other
        # limits is restarted under these.
        wanted = (soffice, python, max_memory_mib * 1024 * 1024, list(prefix))
        if (office._soffice, office._python, office._memory, office._prefix) != wanted:
            office.close()
            office._soffice, office._python, office._memory, office._prefix = wanted
        try:
            yield office
        finally:
            office.last_used = time.monotonic()
            self._free.put(office)

    def close(self) -> None:
        with self._lock:
            for office in self._all:
                office.close()

    def soffice_pids(self) -> list[int]:
        with self._lock:
            return [office.soffice_pid for office in self._all if office.soffice_pid]


_T = TypeVar("_T")


def per_process(factory: Callable[[], _T]) -> Callable[[], _T]:
    """A getter of one ``factory()`` per process: a forked child (Celery prefork, the parse
    child) must not share what its parent holds (helper pipes, profiles in use)."""
    instances: dict[int, _T] = {}

    def get() -> _T:
        pid = os.getpid()
        if pid not in instances:
            instances[pid] = factory()
        return instances[pid]

    return get


pool = per_process(_Pool)
