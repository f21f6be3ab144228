"""What every benchmark needs: machine facts, a resource sampler, call timers, tables."""

from __future__ import annotations

import json
import os
import platform
import statistics
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``../shared/data`` beside the checkout (or ``$ZHIKU_SHARED_DATA``)."""
    path = Path(os.environ.get("ZHIKU_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    if not path.is_dir():
        raise SystemExit(f"shared data not found at {path}; set ZHIKU_SHARED_DATA")
    return path


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def machine_info() -> dict[str, object]:
    cpu_model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 1
    return {
        "cpu_model": cpu_model,
        "logical_cpus": os.cpu_count(),
        "usable_cpus": usable,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": load_average(),
    }


@dataclass
class PhaseResources:
    """What one phase used: wall time, peak RSS of this process tree, CPU seconds, load."""

    wall_s: float = 0.0
    peak_rss_tree_mib: float = 0.0
    peak_rss_main_mib: float = 0.0
    peak_rss_children_mib: float = 0.0
    cpu_main_s: float = 0.0
    cpu_children_s: float = 0.0
    load_min: float = 0.0
    load_mean: float = 0.0
    load_max: float = 0.0
    load_at_end: list[float] = field(default_factory=list)
    # CPU seconds of this process by thread name; "native" is every thread Python did not
    # start (onnxruntime's pool, the Qdrant engine's), "exited" those gone before the end.
    cpu_by_thread_s: dict[str, float] = field(default_factory=dict)


class ResourceSampler:
    """Samples RSS of this process and all its descendants (the parse child included) every
    ``interval_s`` seconds, and the CPU time each process spent during the phase."""

    def __init__(self, interval_s: float = 0.25) -> None:
        self._interval = interval_s
        self._me = psutil.Process()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)
        self._cpu_start: dict[int, float] = {}
        self._cpu_last: dict[int, float] = {}
        self._loads: list[float] = []
        self._threads_start: dict[int, float] = {}
        self.result = PhaseResources()
        self._started = 0.0

    def __enter__(self) -> ResourceSampler:
        self._started = time.perf_counter()
        for proc in self._tree():
            self._cpu_start[proc.pid] = self._cpu(proc)
        self._threads_start = self._thread_times()
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        r = self.result
        r.wall_s = round(time.perf_counter() - self._started, 3)
        spent = {pid: last - self._cpu_start.get(pid, 0.0) for pid, last in self._cpu_last.items()}
        r.cpu_main_s = round(spent.pop(self._me.pid, 0.0), 2)
        r.cpu_by_thread_s = self._cpu_by_thread(r.cpu_main_s)
        r.cpu_children_s = round(sum(spent.values()), 2)
        r.load_min = round(min(self._loads), 2)
        r.load_max = round(max(self._loads), 2)
        r.load_mean = round(statistics.fmean(self._loads), 2)
        r.load_at_end = load_average()

    def _tree(self) -> list[psutil.Process]:
        try:
            return [self._me, *self._me.children(recursive=True)]
        except psutil.Error:
            return [self._me]

    def _thread_times(self) -> dict[int, float]:
        return {t.id: t.user_time + t.system_time for t in self._me.threads()}

    def _cpu_by_thread(self, total: float) -> dict[str, float]:
        names = {t.native_id: t.name for t in threading.enumerate()}
        out: dict[str, float] = {}
        for tid, seconds in self._thread_times().items():
            name = names.get(tid, "native")
            spent = seconds - self._threads_start.get(tid, 0.0)
            out[name] = out.get(name, 0.0) + spent
        out["exited"] = total - sum(out.values())
        return {k: round(v, 2) for k, v in sorted(out.items(), key=lambda kv: -kv[1])}

    @staticmethod
    def _cpu(proc: psutil.Process) -> float:
        times = proc.cpu_times()
        return float(times.user + times.system)

    def _sample(self) -> None:
        main = children = 0
        for proc in self._tree():
            try:
                rss = proc.memory_info().rss
                self._cpu_last[proc.pid] = self._cpu(proc)
            except psutil.Error:  # a child that just exited
                continue
            if proc.pid == self._me.pid:
                main = rss
            else:
                children += rss
        mib = 2**20
        r = self.result
        r.peak_rss_main_mib = round(max(r.peak_rss_main_mib, main / mib), 1)
        r.peak_rss_children_mib = round(max(r.peak_rss_children_mib, children / mib), 1)
        r.peak_rss_tree_mib = round(max(r.peak_rss_tree_mib, (main + children) / mib), 1)
        self._loads.append(os.getloadavg()[0])

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()


@dataclass
class CallStats:
    """Calls to one method: how many, how many items they carried, and the seconds inside."""

    calls: int = 0
    items: int = 0
    seconds: float = 0.0
    sizes: list[int] = field(default_factory=list)
    # (start, end) of every call: calls from several threads overlap, so ``seconds`` (their
    # sum) can exceed the wall time; ``busy`` counts each moment once.
    spans: list[tuple[float, float]] = field(default_factory=list)

    def busy_seconds(self) -> float:
        busy, reach = 0.0, float("-inf")
        for start, end in sorted(self.spans):
            if end > reach:
                busy += end - max(start, reach)
                reach = end
        return busy

    def summary(self) -> dict[str, object]:
        sizes = self.sizes or [0]
        return {
            "calls": self.calls,
            "items": self.items,
            "seconds": round(self.seconds, 2),
            "busy_s": round(self.busy_seconds(), 2),
            "items_per_call_mean": round(self.items / self.calls, 2) if self.calls else 0.0,
            "items_per_call_max": max(sizes),
            "items_per_s_inside": round(self.items / self.seconds, 1) if self.seconds else 0.0,
        }


def time_calls(obj: Any, method: str, stats: CallStats) -> Callable[[], None]:
    """Wrap ``obj.method`` (an instance attribute shadows the class's) to record each call's
    duration and its first argument's length; returns a function that removes the wrapper."""
    original = getattr(obj, method)
    lock = threading.Lock()

    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            elapsed = time.perf_counter() - started
            size = len(args[0]) if args and hasattr(args[0], "__len__") else 1
            with lock:
                stats.calls += 1
                stats.items += size
                stats.seconds += elapsed
                stats.sizes.append(size)
                stats.spans.append((started, started + elapsed))

    setattr(obj, method, timed)
    return lambda: obj.__dict__.pop(method, None)


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    lines = [
        "| " + " | ".join(headers) + " |",
        "|" + "|".join("---" if i == 0 else "---:" for i in range(len(headers))) + "|",
    ]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def write_json(path: Path, data: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, default=_jsonable) + "\n")


def _jsonable(value: object) -> object:
    if hasattr(value, "__dataclass_fields__"):
        return asdict(value)  # type: ignore[arg-type]
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


SUMMARY = REPO_ROOT / "bench" / "results" / "summary.json"


def merge_summary(figures: Mapping[str, float | None]) -> None:
    """Headline figures into ``bench/results/summary.json`` (a flat object keyed
    ``dataset/split/metric/configuration``), re-read just before writing because every
    benchmark writes it; a figure that was not measured (None) leaves the old one."""
    current = json.loads(SUMMARY.read_text()) if SUMMARY.is_file() else {}
    current.update({key: value for key, value in figures.items() if value is not None})
    SUMMARY.write_text(json.dumps(dict(sorted(current.items())), indent=2) + "\n")
