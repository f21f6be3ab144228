"""Searches beyond ``limits.concurrent_searches`` wait their turn (``api.search_slots``): over
real HTTP, many clients at once in English, Simplified and Traditional Chinese, every search
answered with its own document, and never more than the slots running at once."""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from pydantic import ValidationError

from api.search_slots import slot_count
from core.settings import Settings
from tests.api.world import World, upload, wait_terminal
from tests.live import ThreadServer
from tests.support import make_settings

SLOTS = 2
DOCS = {
    "glacier.txt": "Glaciers\n\nThe Aletsch glacier in the Swiss Alps is the largest in the "
    "Alps; it has retreated more than three kilometres since 1870.",
    "tea.txt": "绿茶的制作\n\n龙井茶产于杭州西湖一带，采摘后经过杀青、揉捻和干燥。",
    "harbour.txt": "港口管理辦法\n\n貨櫃船進港前須向港務局申報，並於指定碼頭卸貨。",
}
QUESTIONS = {
    "Which glacier is the largest in the Alps?": "glacier.txt",
    "龙井茶产于哪里": "tea.txt",
    "貨櫃船進港前須向哪裡申報": "harbour.txt",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(
        tmp_path_factory.mktemp("slots"), limits={"concurrent_searches": SLOTS}
    )
    with ThreadServer(settings) as srv:
        yield srv


def test_searches_past_the_slots_wait_their_turn_and_all_answer(
    server: ThreadServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = World(server)
    with world.client("ann") as ann:
        r = upload(ann, [(n, b.encode()) for n, b in DOCS.items()], access={"everyone": True})
        assert r.status_code == 202, r.text
        for doc in r.json()["data"]:
            assert wait_terminal(ann, doc["id"])["status"] == "ready"

    # Count the searches in their CPU part at once; each holds its slot a little longer,
    # so that without the bound all the clients' searches would overlap.
    service = server.container.services.search
    real = service.find
    running, most, lock = 0, 0, threading.Lock()

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        try:
            time.sleep(0.05)
            return real(*args, **kwargs)
        finally:
            with lock:
                running -= 1

    monkeypatch.setattr(service, "find", counted)

    def ask(question: str) -> tuple[str, int, str | None]:
        with world.client("bob") as bob:
            r = bob.post("/v1/search", json={"query": question, "limit": 3})
            top = r.json()["results"][0]["filename"] if r.status_code == 200 else None
            return question, r.status_code, top

    asked = list(QUESTIONS) * 6
    with ThreadPoolExecutor(len(asked)) as pool:
        answers = list(pool.map(ask, asked))
    assert [(status, top) for q, status, top in answers] == [(200, QUESTIONS[q]) for q in asked]
    assert most == SLOTS


def test_slots_default_to_twice_the_cores_and_refuse_nonsense(tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert slot_count(0) == 2 * len(os.sched_getaffinity(0))
    assert slot_count(3) == 3
    assert Settings(data_dir=tmp_path).limits.concurrent_searches == 0
    with pytest.raises(ValidationError):
        Settings(data_dir=tmp_path, limits={"concurrent_searches": -1})
