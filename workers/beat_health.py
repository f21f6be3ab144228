"""``zhiku beat``'s liveness: a heartbeat file it touches on every tick, and the check that
reads it (compose.yaml's health check for beat).

A process that is alive is not a beat that works: a scheduler stuck on a lock or a dead loop
inside a live process sends nothing, and ``kill -0 1`` would still pass. Beat's loop wakes at
least every ``BEAT_TICK_S`` (``beat_max_loop_interval``, whatever the clean-up's interval), and
each completed tick touches ``<data_dir>/beat-heartbeat``; a file older than
``STALE_AFTER_S`` (several missed ticks) means beat has stopped ticking.

    python -m workers.beat_health            # exit 0: ticking; 1: stale or missing
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from celery.beat import PersistentScheduler

from core.settings import get_settings

HEARTBEAT_FILE = "beat-heartbeat"
# Beat's longest sleep between ticks (Celery's default is 300 s: a clean-up due hourly would
# leave the heartbeat five minutes old between checks).
BEAT_TICK_S = 30
# Four missed ticks: a loaded machine may delay one, never four.
STALE_AFTER_S = 4 * BEAT_TICK_S


def heartbeat_path(data_dir: Path) -> Path:
    return data_dir / HEARTBEAT_FILE


class HeartbeatScheduler(PersistentScheduler):
    """Celery's file-backed scheduler (``--schedule``), touching the heartbeat beside its
    schedule file after every tick."""

    def tick(self, *args: Any, **kwargs: Any) -> float:
        interval = float(super().tick(*args, **kwargs))
        path = heartbeat_path(Path(self.schedule_filename).parent)
        path.touch()
        return interval


def heartbeat_age_s(path: Path, now: float | None = None) -> float | None:
    """Seconds since the last tick, or None when beat has never ticked here."""
    try:
        touched = path.stat().st_mtime
    except FileNotFoundError:
        return None
    return (time.time() if now is None else now) - touched


def main() -> int:
    path = heartbeat_path(get_settings().data_dir)
    age = heartbeat_age_s(path)
    if age is None:
        print(f"unhealthy: beat has not ticked ({path} is missing)", file=sys.stderr)
        return 1
    if age > STALE_AFTER_S:
        print(f"unhealthy: beat last ticked {age:.0f} s ago (> {STALE_AFTER_S} s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
