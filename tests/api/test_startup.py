"""Start-up: the store and the model open in the background; the first request waits for them
on a worker thread, never on the event loop, so the server keeps answering meanwhile."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import pytest

from core.db import identity
from core.db import keys as key_queries
from core.db.session import transaction
from tests.live import ThreadServer
from tests.llm.backends import dead_backend
from tests.support import make_settings

pytestmark = pytest.mark.slow  # exports the embedding model to int8 ONNX from scratch


def test_first_chat_after_start_does_not_block_liveness(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        # An empty model cache: opening the embedder means a fresh int8 export (seconds).
        embedding={"cache_dir": str(tmp_path / "models")},
        llm={"backends": [dead_backend("down").model_dump()], "local": {"enabled": False}},
    )
    with ThreadServer(settings) as server:
        container = server.container
        with transaction(container.sessions) as s:
            tenant = identity.create_tenant(s, "start")
            user = identity.create_user(s, tenant.id, "u")
            key = key_queries.issue_api_key(s, user, settings.secret_key).plaintext
        assert container.embedder_resource.status == "starting"
        answer: dict[str, object] = {}

        def ask() -> None:
            r = httpx.post(
                server.url + "/v1/chat",
                headers={"Authorization": f"Bearer {key}"},
                json={"message": "When does the boiler need service?", "stream": False},
                timeout=300,
            )
            answer["status"], answer["body"] = r.status_code, r.json()

        chat = threading.Thread(target=ask)
        chat.start()
        # Count liveness answers that came back while the model was still loading. Had the
        # load run on the event loop, none could (the loop would be busy for the whole load);
        # no wall-clock bound is asserted, since this machine's speed is not the behaviour.
        answered_while_starting = 0
        while chat.is_alive():
            assert httpx.get(server.url + "/health/live", timeout=30).status_code == 200
            if container.embedder_resource.status == "starting":
                answered_while_starting += 1
            time.sleep(0.05)
        chat.join()
    # The chat waited for the model (no documents yet: a plain "nothing found" answer)...
    assert answer["status"] == 200, answer
    assert answer["body"]["outcome"] == "no_context"  # type: ignore[index]
    # ...while liveness kept answering, many times over, before the model was ready.
    assert answered_while_starting >= 10, answered_while_starting
