"""The ``zhiku`` command as a user runs it: admin commands, ``ingest`` with progress, and
``serve`` on the embedded default (SQLite, embedded Qdrant, in-process ingestion)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.live import free_port, process, wait_http, zhiku_env
from tests.support import shared_data_dir


def zhiku(
    args: list[str], env: dict[str, str], timeout: float = 300
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "zhiku.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return zhiku_env({"ZHIKU_DATA_DIR": str(tmp_path / "data")})


def test_admin_commands(env: dict[str, str]) -> None:
    assert zhiku(["admin", "create-tenant", "acme"], env).returncode == 0
    user = zhiku(["admin", "create-user", "acme", "alice", "--admin"], env)
    assert user.returncode == 0 and len(user.stdout.strip()) == 36
    assert zhiku(["admin", "create-group", "acme", "finance"], env).returncode == 0
    assert zhiku(["admin", "add-member", "acme", "alice", "finance"], env).returncode == 0
    key = zhiku(["admin", "create-key", "acme", "alice"], env)
    assert key.returncode == 0 and key.stdout.startswith("zk_")
    key_id = key.stderr.split("key id ", 1)[1].split()[0]
    assert zhiku(["admin", "revoke-key", key_id], env).returncode == 0
    assert zhiku(["admin", "revoke-key", "no-such-key"], env).returncode != 0
    again = zhiku(["admin", "create-tenant", "acme"], env)
    assert again.returncode != 0 and "already exists" in again.stderr + again.stdout


@pytest.mark.slow
def test_ingest_in_process_with_progress(env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "a.md").write_text("# Pumps\n\nThe pump in hall 3 needs oil every week.\n")
    (folder / "b.txt").write_text("Invoices are approved by the finance team within 5 days.\n")
    docx = shared_data_dir() / "docs/docling-test-data/docx/sources/word_sample.docx"
    (folder / docx.name).write_bytes(docx.read_bytes())
    (folder / "empty.txt").write_text("")
    result = zhiku(["ingest", str(folder), "--everyone"], env)
    out = result.stdout + result.stderr
    assert "3 ready, 0 failed" in out, out
    assert "rejected" in out and "empty.txt" in out
    assert result.returncode == 1  # one file was refused: the exit code says so
    assert "all documents" in out  # the overall bar


@pytest.mark.slow
def test_serve_embedded_default_and_remote_ingest(env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    with process(["serve", "--port", str(port)], env, tmp_path / "serve.log") as server:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/health/ready", proc=server, ok_only=True)
        key = (Path(env["ZHIKU_DATA_DIR"]) / "admin-api-key").read_text().strip()
        assert key in (tmp_path / "serve.log").read_text()  # printed once at first start
        headers = {"Authorization": f"Bearer {key}"}
        r = httpx.post(
            url + "/v1/documents",
            headers=headers,
            files={"files": ("faq.md", b"# FAQ\n\nReset your password from the login page.\n")},
        )
        assert r.status_code == 202, r.text
        doc_id = r.json()["data"][0]["id"]
        deadline = time.monotonic() + 180
        while (
            httpx.get(f"{url}/v1/documents/{doc_id}", headers=headers).json()["status"] != "ready"
        ):
            assert time.monotonic() < deadline
            time.sleep(0.3)
        (tmp_path / "remote.txt").write_text("Remote ingestion goes through the HTTP API.")
        remote = zhiku(
            ["ingest", str(tmp_path / "remote.txt"), "--url", url, "--api-key", key], env
        )
        assert remote.returncode == 0, remote.stdout + remote.stderr
        assert "1 ready, 0 failed" in remote.stdout + remote.stderr
        listed = httpx.get(url + "/v1/documents", headers=headers).json()
        assert listed["count"] == 2
        # The embedded answer model (llama.cpp with the packaged model) answers from them.
        assert httpx.get(url + "/health/ready").json()["checks"]["answer_model"] == "ok"
        r = httpx.post(
            url + "/v1/chat",
            headers=headers,
            json={"message": "How do I reset my password?", "stream": False},
            timeout=300,
        )
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["outcome"] == "ok" and "login page" in answer["answer"].lower()
        assert answer["citations"][0]["document_id"] == doc_id
    assert (Path(env["ZHIKU_DATA_DIR"]) / "zhiku.sqlite3").is_file()
    assert (Path(env["ZHIKU_DATA_DIR"]) / "qdrant").is_dir()


def test_worker_gives_each_process_its_share_of_the_cores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Prefork processes each build an embedder: with ``--concurrency 2`` on this machine,
    each gets half the cores, unless the operator set the threads."""
    from typer.testing import CliRunner

    from core.settings import get_settings
    from index.embedding import available_cores
    from zhiku.cli import app
    from zhiku.worker import app as celery

    started: list[list[str]] = []
    monkeypatch.setattr(celery, "worker_main", started.append)
    monkeypatch.setenv("ZHIKU_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ZHIKU_REDIS_URL", "redis://127.0.0.1:6379/7")
    # Registered first, so that the value the command sets is removed afterwards.
    monkeypatch.setenv("ZHIKU_EMBEDDING__THREADS", "")
    monkeypatch.delenv("ZHIKU_EMBEDDING__THREADS")
    try:
        # The embedded store opens in one process: several embedding processes need a server.
        refused = CliRunner().invoke(app, ["worker", "--queues", "embed", "--concurrency", "2"])
        assert refused.exit_code == 2 and "one process" in refused.output
        assert started == []
        wrong = CliRunner().invoke(app, ["worker", "--queues", "embedding"])
        assert wrong.exit_code == 2 and "--queues" in wrong.output
        get_settings.cache_clear()
        monkeypatch.setenv("ZHIKU_QDRANT__URL", "http://127.0.0.1:6333")  # never contacted
        monkeypatch.delenv("ZHIKU_EMBEDDING__THREADS")
        result = CliRunner().invoke(app, ["worker", "--queues", "embed", "--concurrency", "2"])
        assert result.exit_code == 0, result.output
        assert "--concurrency=2" in started[0]
        assert get_settings().embedding.threads == max(1, available_cores() // 2)
        monkeypatch.setenv("ZHIKU_EMBEDDING__THREADS", "3")  # the operator's choice stands
        assert CliRunner().invoke(app, ["worker", "--concurrency", "2"]).exit_code == 0
        assert get_settings().embedding.threads == 3
        # An embed-only worker: one process (one model, one store), two groups in flight.
        monkeypatch.delenv("ZHIKU_QDRANT__URL")
        monkeypatch.delenv("ZHIKU_EMBEDDING__THREADS")
        assert CliRunner().invoke(app, ["worker", "--queues", "embed"]).exit_code == 0
        assert "--pool=threads" in started[-1] and "--concurrency=2" in started[-1]
        assert get_settings().embedding.threads == available_cores()
    finally:
        get_settings.cache_clear()
