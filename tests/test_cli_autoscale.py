"""``zhiku worker --autoscale MAX,MIN``: Celery's autoscaling pool for the parse stage."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_a_parse_worker_autoscales_and_nothing_else_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from core.settings import get_settings
    from zhiku.cli import app
    from zhiku.worker import app as celery

    started: list[list[str]] = []
    monkeypatch.setattr(celery, "worker_main", started.append)
    monkeypatch.setenv("ZHIKU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ZHIKU_REDIS_URL", "redis://127.0.0.1:6379/13")  # never contacted
    monkeypatch.setenv("ZHIKU_EMBEDDING__THREADS", "")  # restored after the command sets it
    monkeypatch.delenv("ZHIKU_EMBEDDING__THREADS")
    try:
        ok = CliRunner().invoke(app, ["worker", "--queues", "parse", "--autoscale", "8, 1"])
        assert ok.exit_code == 0, ok.output
        assert "--autoscale=8,1" in started[-1] and "--pool=prefork" in started[-1]
        assert not any(a.startswith("--concurrency") for a in started[-1])
        for refused in (
            ["--queues", "embed", "--autoscale", "4,1"],  # a model per process
            ["--queues", "parse,embed", "--autoscale", "4,1"],
            ["--queues", "parse", "--autoscale", "1,4"],
            ["--queues", "parse", "--autoscale", "four"],
        ):
            result = CliRunner().invoke(app, ["worker", *refused])
            assert result.exit_code == 2 and "--autoscale" in result.output, refused
        assert len(started) == 1  # the fixed pool without it: tests/test_cli.py
    finally:
        get_settings.cache_clear()
