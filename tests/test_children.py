"""No child outlives its server: the llama.cpp answer server dies with a `zhiku serve` killed
by SIGKILL, and a restart ends one an older crash left behind (recorded in a pid file) instead
of starting a second multi-GB model beside it. Real processes throughout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from core.settings import Settings
from llm.local_server import LlamaCppServer, reap_orphan
from llm.packaged_models import ensure_model
from llm.runtime import local_server_pid_file
from tests.live import free_port, process, wait_http, zhiku_env
from tests.support import TEST_LLM_MODEL

pytestmark = pytest.mark.slow


def llama_children(pid: int) -> list[psutil.Process]:
    try:
        family = psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []
    return [p for p in family if "llama_cpp.server" in " ".join(p.cmdline())]


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def wait_until(condition, timeout_s: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def serve_env(data_dir: Path) -> dict[str, str]:
    return zhiku_env(
        {
            "ZHIKU_ENVIRONMENT": "test",
            "ZHIKU_DATA_DIR": str(data_dir),
            "ZHIKU_LLM__LOCAL__MODEL": TEST_LLM_MODEL,
            "ZHIKU_LLM__LOCAL__N_CTX": "512",
        }
    )


def test_the_answer_server_dies_with_a_killed_zhiku_serve(tmp_path: Path) -> None:
    port = free_port()
    env = serve_env(tmp_path / "data")
    log = tmp_path / "serve.log"
    with process(["serve", "--host", "127.0.0.1", "--port", str(port)], env, log) as server:
        wait_http(f"http://127.0.0.1:{port}/health/live", 180, server)
        wait_until(lambda: llama_children(server.pid), 180, f"no llama child: {log.read_text()}")
        (child,) = llama_children(server.pid)
        pid_file = local_server_pid_file(Settings(data_dir=tmp_path / "data"))
        assert pid_file.exists() and str(child.pid) in pid_file.read_text()
        # Only the server: SIGKILL to its pid, not its group (that would kill the child too).
        os.kill(server.pid, signal.SIGKILL)
        server.wait(10)
        wait_until(lambda: gone(child.pid), 10, "the llama.cpp child outlived its server")


def test_a_restart_ends_an_orphan_left_by_an_older_crash(tmp_path: Path) -> None:
    """The orphan is what an older version left: started without a watchdog, its parent long
    gone. Starting the answer server with the same pid file ends it first."""
    model = ensure_model(TEST_LLM_MODEL, Settings(environment="test").model_cache_path)
    pid_file = local_server_pid_file(Settings(data_dir=tmp_path / "data"))
    # A parent that exits at once: the orphan is re-parented, as after a crash.
    launcher = subprocess.run(
        [sys.executable, "-c",
         "import subprocess, sys; p = subprocess.Popen([sys.executable, '-m', "
         "'llama_cpp.server', '--model', sys.argv[1], '--port', sys.argv[2], '--n_ctx', '256'],"
         " start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL);"
         " print(p.pid, __import__('os').getpid())",
         str(model), str(free_port())],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    orphan, dead_parent = (int(x) for x in launcher.stdout.split())
    pid_file.parent.mkdir(parents=True)
    pid_file.write_text(
        f'{{"pid": {orphan}, "parent": {dead_parent}, "port": 1, "model": "{model}"}}'
    )
    try:
        assert not gone(orphan)
        server = LlamaCppServer(model, n_ctx=256, pid_file=pid_file).start()
        try:
            assert gone(orphan), "the orphan was not reaped"
            assert str(server.pid) in pid_file.read_text()  # the new child is recorded
        finally:
            server.stop()
        assert not pid_file.exists()
    finally:
        if not gone(orphan):
            os.kill(orphan, signal.SIGKILL)


def test_a_pid_file_naming_another_process_is_left_alone(tmp_path: Path) -> None:
    """A reused pid (not our server) or a live parent's child is never killed."""
    pid_file = tmp_path / "llama-server.pid"
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        pid_file.write_text(
            f'{{"pid": {bystander.pid}, "parent": 999999, "port": 1, "model": "/m.gguf"}}'
        )
        assert reap_orphan(pid_file) is None
        assert bystander.poll() is None
        assert not pid_file.exists()  # its recorded parent is gone: the record is stale
        pid_file.write_text("not json")
        assert reap_orphan(pid_file) is None and not pid_file.exists()
    finally:
        bystander.kill()
        bystander.wait()
