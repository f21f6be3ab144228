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


def test_user_lifecycle_commands(env: dict[str, str]) -> None:
    """Disable and enable a user, set roles, take a member out of a group, list, expire and
    rotate keys: each checked against the database the server would read."""
    from core.db import identity
    from core.db.session import transaction
    from core.errors import Unauthenticated
    from core.settings import Settings
    from zhiku.database import build_sessions

    assert zhiku(["admin", "create-tenant", "华东"], env).returncode == 0
    assert zhiku(["admin", "create-user", "华东", "李娜"], env).returncode == 0
    assert zhiku(["admin", "create-group", "华东", "研发部"], env).returncode == 0
    assert zhiku(["admin", "add-member", "华东", "李娜", "研发部"], env).returncode == 0
    created = zhiku(["admin", "create-key", "华东", "李娜", "--expires-in-days", "30"], env)
    assert created.returncode == 0, created.stderr
    plaintext, key_id = created.stdout.strip(), created.stderr.split("key id ", 1)[1].split()[0]

    listed = zhiku(["admin", "list-keys", "华东", "李娜"], env)
    assert listed.returncode == 0 and key_id in listed.stdout and "active" in listed.stdout
    assert plaintext.split("_", 2)[2] not in listed.stdout  # never the secret
    rotated = zhiku(["admin", "rotate-key", key_id, "--grace-seconds", "60"], env)
    assert rotated.returncode == 0 and rotated.stdout.startswith("zk_")
    assert zhiku(["admin", "set-roles", "华东", "李娜", "--auditor"], env).stdout.strip() == (
        "admin=False auditor=True"
    )
    assert zhiku(["admin", "disable-user", "华东", "李娜"], env).returncode == 0
    assert zhiku(["admin", "remove-member", "华东", "李娜", "研发部"], env).returncode == 0

    settings = Settings(data_dir=Path(env["ZHIKU_DATA_DIR"]))  # the same generated pepper
    with transaction(build_sessions(settings)) as s:
        tenant_id = identity.get_tenant_by_name(s, "华东").id
        user = identity.get_user_by_name(s, tenant_id, "李娜")
        assert user.disabled_at is not None and user.is_auditor and user.groups == []
        with pytest.raises(Unauthenticated):
            identity.authenticate(s, rotated.stdout.strip(), settings.secret_key)
        identity.set_disabled(s, user, False, actor_id=None)
    with transaction(build_sessions(settings)) as s:
        # Enabled again: the new key works, and (in its grace minute) the old one too.
        for key in (rotated.stdout.strip(), plaintext):
            assert identity.authenticate(s, key, settings.secret_key).user_id == user.id
    assert zhiku(["admin", "enable-user", "华东", "李娜"], env).returncode == 0
    assert zhiku(["admin", "disable-user", "华东", "nobody"], env).returncode != 0


def test_secrets_stay_out_of_logs_and_other_users_reach(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Development makes its own pepper (mode 600, kept); production refuses a short one; the
    first admin key lands in a mode-600 file, even one that existed with a wider mode, and is
    never printed."""
    import stat

    from pydantic import ValidationError

    from core.settings import Settings
    from zhiku.bootstrap import ensure_first_admin

    data = tmp_path / "data"
    settings = Settings(data_dir=data)
    pepper_file = data / "secret-key"
    assert stat.S_IMODE(pepper_file.stat().st_mode) == 0o600
    assert len(settings.secret_key) >= 32 and settings.secret_key != "change-me"
    assert Settings(data_dir=data).secret_key == settings.secret_key  # kept, not remade
    pepper_file.chmod(0o644)
    assert Settings(data_dir=data).secret_key == settings.secret_key
    assert stat.S_IMODE(pepper_file.stat().st_mode) == 0o600
    for short in ("", "change-me", "x" * 31):
        with pytest.raises(ValidationError) as refused:
            Settings(data_dir=data, environment="production", secret_key=short)
        assert "ZHIKU_SECRET_KEY" in str(refused.value)
        assert not short or short not in str(refused.value)  # the value is not echoed
    assert Settings(environment="production", secret_key="y" * 32).secret_key == "y" * 32

    key_file = data / "admin-api-key"
    key_file.write_text("stale\n")
    key_file.chmod(0o644)
    assert ensure_first_admin(settings) == key_file
    key = key_file.read_text().strip()
    assert key.startswith("zk_") and stat.S_IMODE(key_file.stat().st_mode) == 0o600
    printed = capsys.readouterr()
    assert key not in printed.out + printed.err and str(key_file) in printed.out
    assert ensure_first_admin(settings) is None  # once only


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


def test_reindex_in_process_with_progress(env: dict[str, str], tmp_path: Path) -> None:
    """Another backend configured (ONNX, then torch: other vectors, another model key): the
    command re-embeds every chunk beside the old index, printing its progress, and switches."""
    import json

    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "合同.txt").write_text("本合同约定乙方在三十日内交付设备。The buyer pays in 30 days.")
    (folder / "pumps.md").write_text("# Pumps\n\nThe pump in hall 3 needs oil every week.\n")
    assert zhiku(["ingest", str(folder), "--everyone"], env).returncode == 0
    meta = Path(env["ZHIKU_DATA_DIR"]) / "qdrant" / "zhiku_chunks" / "zhiku.json"
    before = json.loads(meta.read_text())["generation"]
    result = zhiku(["admin", "reindex"], {**env, "ZHIKU_EMBEDDING__BACKEND": "torch"})
    out = result.stdout + result.stderr
    assert result.returncode == 0, out
    assert f"generation {before['number'] + 1}: building" in out
    assert "[done]" in out
    after = json.loads(meta.read_text())["generation"]
    assert after["number"] == before["number"] + 1
    assert after["recipe"]["backend"] == "torch" and after["model"] != before["model"]
    assert not (meta.parent.parent / ".zhiku_chunks.generation").exists()  # the old one dropped


@pytest.mark.slow
def test_serve_embedded_default_and_remote_ingest(env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    with process(["serve", "--port", str(port)], env, tmp_path / "serve.log") as server:
        url = f"http://127.0.0.1:{port}"
        wait_http(url + "/health/ready", proc=server, ok_only=True)
        key = (Path(env["ZHIKU_DATA_DIR"]) / "admin-api-key").read_text().strip()
        # Where the key is goes to the log; the key itself does not.
        assert key not in (tmp_path / "serve.log").read_text()
        assert "admin-api-key" in (tmp_path / "serve.log").read_text()
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
