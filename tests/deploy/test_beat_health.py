"""compose.yaml's health check for ``zhiku beat``: the very command Compose would run, against a
heartbeat that a real beat process writes, a fresh one, a stale one and none."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.deploy.helpers import PROFILES, active_services
from tests.live import process, zhiku_env
from tests.support import REDIS_URL, REPO_ROOT, make_settings
from workers.beat_health import BEAT_TICK_S, STALE_AFTER_S, heartbeat_path
from workers.celery_app import create_celery


def _check_command(profile: str) -> list[str]:
    test = active_services(profile)["beat"]["healthcheck"]["test"]
    assert test[0] == "CMD", test  # exec form: no shell that would always answer
    return list(test[1:])


def _run_check(command: list[str], data_dir: Path) -> subprocess.CompletedProcess[str]:
    """The check as the container runs it: its ``python`` is the one Zhiku is installed in."""
    assert command[0] == "python"
    env = zhiku_env({"ZHIKU_ENVIRONMENT": "test", "ZHIKU_DATA_DIR": str(data_dir)})
    env["PYTHONPATH"] = str(REPO_ROOT)
    return subprocess.run(
        [sys.executable, *command[1:]], env=env, capture_output=True, text=True, timeout=30
    )


@pytest.mark.parametrize("profile", PROFILES)
def test_the_check_passes_on_a_fresh_heartbeat_and_fails_on_a_stale_or_missing_one(
    profile: str, tmp_path: Path
) -> None:
    command = _check_command(profile)
    missing = _run_check(command, tmp_path)
    assert missing.returncode == 1 and "has not ticked" in missing.stderr, missing
    heartbeat_path(tmp_path).touch()
    fresh = _run_check(command, tmp_path)
    assert fresh.returncode == 0, fresh.stderr
    stale = time.time() - STALE_AFTER_S - 5
    os.utime(heartbeat_path(tmp_path), (stale, stale))
    result = _run_check(command, tmp_path)
    assert result.returncode == 1 and "last ticked" in result.stderr, result


def test_beat_wakes_well_within_the_staleness_limit(tmp_path: Path) -> None:
    """Celery's default loop sleeps up to 300 s when the clean-up is due hourly: the heartbeat
    would go stale between two healthy ticks."""
    conf = create_celery(make_settings(tmp_path, maintenance={"interval_s": 3600})).conf
    assert conf.beat_max_loop_interval == BEAT_TICK_S <= STALE_AFTER_S / 3
    assert conf.beat_scheduler == "workers.beat_health:HeartbeatScheduler"


def test_a_real_beat_keeps_its_heartbeat_fresh_and_a_stopped_one_goes_stale(
    tmp_path: Path,
) -> None:
    """``zhiku beat`` on the real broker, its clean-up due every second: every tick touches
    the heartbeat and the compose check passes; once the process is stopped, nothing touches
    it again (aged past the limit here rather than waited for), and the check fails."""
    env = zhiku_env(
        {
            "ZHIKU_ENVIRONMENT": "test",
            "ZHIKU_DATA_DIR": str(tmp_path),
            "ZHIKU_REDIS_URL": REDIS_URL,
            "ZHIKU_MAINTENANCE__INTERVAL_S": "1",
        }
    )
    path = heartbeat_path(tmp_path)
    command = _check_command("cpu")
    log = tmp_path / "beat.log"
    with process(["beat"], env, log):
        deadline = time.monotonic() + 60
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert path.exists(), log.read_text()[-2000:]
        first = path.stat().st_mtime
        while path.stat().st_mtime == first and time.monotonic() < deadline:
            time.sleep(0.2)
        assert path.stat().st_mtime > first, "the heartbeat was not touched again"
        assert _run_check(command, tmp_path).returncode == 0
    stopped_at = path.stat().st_mtime
    time.sleep(2.5)  # beat would have ticked twice by now
    assert path.stat().st_mtime == stopped_at
    aged = stopped_at - STALE_AFTER_S - 1
    os.utime(path, (aged, aged))
    assert _run_check(command, tmp_path).returncode == 1
