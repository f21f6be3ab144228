"""The deployment's one migration job (``zhiku db upgrade``) on PostgreSQL, and processes that
do not migrate when told (``ZHIKU_DATABASE__AUTO_MIGRATE=false``, as compose.yaml sets)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg

from core.db.migrate import MIGRATIONS
from tests.support import REPO_ROOT, make_settings
from zhiku.database import build_sessions


def _version(url: str) -> str | None:
    with psycopg.connect(url) as conn:
        exists = conn.execute("SELECT to_regclass('public.alembic_version')").fetchone()
        if not exists or exists[0] is None:
            return None
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        return row[0] if row else None


def _head() -> str:
    heads = sorted(p.name.split("_")[0] for p in (MIGRATIONS / "versions").glob("[0-9]*.py"))
    return heads[-1]


def test_processes_wait_for_the_job_and_the_job_migrates(pg_url: str, tmp_path: Path) -> None:
    # A separate database: the session's pg_url may already be migrated by other tests.
    base, name = pg_url.rsplit("/", 1)
    fresh = f"{name}_job"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{fresh}"')
        conn.execute(f'CREATE DATABASE "{fresh}"')
    url = f"{base}/{fresh}"
    try:
        # The API and the workers with auto_migrate off leave the schema alone.
        skipped = make_settings(tmp_path, database={"url": url, "auto_migrate": False})
        build_sessions(skipped, migrate=True)
        assert _version(url) is None

        env = {k: v for k, v in os.environ.items() if not k.startswith("ZHIKU_")}
        env.update(
            ZHIKU_ENVIRONMENT="test",
            ZHIKU_DATA_DIR=str(tmp_path),
            ZHIKU_DATABASE__URL=url,
            ZHIKU_DATABASE__AUTO_MIGRATE="false",  # the job migrates whatever this says
        )
        job = subprocess.run(
            [sys.executable, "-m", "zhiku.cli", "db", "upgrade"],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert job.returncode == 0, job.stderr
        assert _version(url) == _head()
        # Run again (a restarted job): nothing to do, still at head.
        again = subprocess.run(
            [sys.executable, "-m", "zhiku.cli", "db", "upgrade"],
            cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert again.returncode == 0 and _version(url) == _head()
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')
