"""Readiness with a configured answer backend follows the backend: not ready while it does
not answer (vLLM loading its weights), ready once it lists its models, degraded but still
ready when it goes away after answering (search still serves). A real HTTP server on loopback
plays the backend."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from core.db.session import make_engine, make_session_factory
from core.settings_llm import LlmBackendSettings, LlmSettings
from llm.backend_probe import BackendProbe, answer_backends
from llm.runtime import AnswerModels
from services.health import HealthService
from tests.live import free_port
from tests.support import make_settings


class Backend(BaseHTTPRequestHandler):
    loaded = False  # a vLLM server answers /v1/models once its model is loaded
    seen_keys: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).seen_keys.append(self.headers.get("Authorization", ""))
        ok = self.path == "/v1/models" and type(self).loaded
        body = b'{"data": [{"id": "m"}]}' if ok else b"{}"
        self.send_response(200 if ok else 503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def backend() -> Iterator[tuple[type[Backend], str]]:
    handler = type("LoadingBackend", (Backend,), {"loaded": False, "seen_keys": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield handler, f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


def test_api_is_not_ready_while_the_backend_loads(
    backend: tuple[type[Backend], str], tmp_path: Path
) -> None:
    handler, url = backend
    settings = make_settings(
        tmp_path,
        llm={"backends": [{"name": "vllm", "base_url": url, "model": "m", "api_key": "sk-1"}]},
    )
    models = AnswerModels(settings)
    sessions = make_session_factory(make_engine(f"sqlite:///{tmp_path / 'db.sqlite3'}"))
    health = HealthService(sessions, None, None, models)
    clock = [0.0]
    models._probe = BackendProbe(answer_backends(settings.llm), clock=lambda: clock[0])

    checks = health.checks()
    assert checks["answer_model"] == "unavailable" and not health.ready(checks)
    assert models.status == "ok"  # the router itself is configured all along
    handler.loaded = True
    assert health.checks()["answer_model"] == "unavailable"  # the last probe stands a while
    clock[0] += 10
    checks = health.checks()
    assert checks == {"database": "ok", "ingestion": "in-process", "answer_model": "ok"}
    assert health.ready(checks)
    assert handler.seen_keys and set(handler.seen_keys) == {"Bearer sk-1"}
    # Gone after it had answered: degraded, still ready (search serves without a model).
    handler.loaded = False
    clock[0] += 10
    checks = health.checks()
    assert checks["answer_model"] == "degraded" and health.ready(checks)
    assert models.readiness().startswith("degraded: vllm: HTTP 503")


def test_a_backend_that_is_gone_or_refuses_is_named() -> None:
    dead = LlmBackendSettings(name="gone", base_url=f"http://127.0.0.1:{free_port()}/v1", model="m")
    state = BackendProbe([dead]).state()
    assert state.startswith("unavailable: gone: ConnectError")


def test_ready_when_one_of_the_answer_backends_answers(
    backend: tuple[type[Backend], str],
) -> None:
    handler, url = backend
    handler.loaded = True
    dead = {"name": "gone", "base_url": f"http://127.0.0.1:{free_port()}/v1", "model": "m"}
    live = {"name": "live", "base_url": url, "model": "m"}
    spare = {"name": "spare", "base_url": url, "model": "m"}
    llm = LlmSettings(backends=[dead, live, spare], routes={"answer": ["gone", "live"]})  # type: ignore[list-item]
    assert [b.name for b in answer_backends(llm)] == ["gone", "live"]
    assert BackendProbe(answer_backends(llm)).state() == "ok"  # the router fails over to it
    only_dead = LlmSettings(backends=[dead, live], routes={"answer": ["gone"]})  # type: ignore[list-item]
    assert BackendProbe(answer_backends(only_dead)).state().startswith("unavailable")


def test_the_embedded_model_keeps_its_own_status(tmp_path: Path) -> None:
    off = AnswerModels(make_settings(tmp_path))  # local model disabled, nothing configured
    assert off.readiness() == "not configured"
