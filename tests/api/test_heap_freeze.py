"""``zhiku serve`` takes its start-up heap out of the cyclic collector (``api.main.
freeze_startup_heap``): full collections no longer walk the modules and the object graph,
whose 380 ms pause was the p99 of 16 concurrent searches. Only a process of its own freezes:
the tests' own process builds many apps and must not keep their garbage."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import REPO_ROOT

PROBE = """
import gc, sys
from pathlib import Path
from fastapi.testclient import TestClient
from tests.support import make_settings
from zhiku.app import create_app

settings = make_settings(Path(sys.argv[1]))
app = create_app(settings, own_process=sys.argv[2] == "own")
with TestClient(app) as client:
    assert client.get("/health/live").status_code == 200
    print(gc.get_freeze_count())
"""


@pytest.mark.parametrize(("mode", "frozen"), [("own", True), ("shared", False)])
def test_only_a_process_of_its_own_freezes_its_heap(
    tmp_path: Path, mode: str, frozen: bool
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path), mode],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    count = int(done.stdout.strip().splitlines()[-1])
    assert (count > 10_000) is frozen, count  # the app's modules and objects, or nothing
