"""Feedback attaches only to answers the caller asked for, over real HTTP: one's own search
record (an ``AnswerRecord`` too, its id listed in the audit trail) took a vote; it is now a
400 that says feedback is for answers, in the caller's language. Anyone else's record,
search or answer, stays a plain 404, worded as for an id that does not exist, so the refusal
reveals nothing of records that are not the caller's."""

from __future__ import annotations

import httpx
import pytest

from tests.api.test_chat import llm_settings
from tests.api.world import World
from tests.live import ThreadServer
from tests.llm.backends import dead_backend
from tests.support import make_settings

ZH = {"Accept-Language": "zh-CN"}
UP = {"rating": "up"}


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    # No document anywhere: a chat answers "no context" without asking the (dead) model.
    settings = make_settings(
        tmp_path_factory.mktemp("feedback-targets"),
        database={"url": pg_url},
        llm=llm_settings(dead_backend("down")),
    )
    with ThreadServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def world(server: ThreadServer) -> World:
    return World(server)


def _records(world: World, endpoint: str) -> dict[str, str]:
    """user id → the id of that user's latest record of ``endpoint`` (ann audits as admin)."""
    with world.client("ann") as ann:
        data = ann.get("/v1/audit/answers", params={"limit": 500}).json()["data"]
    found: dict[str, str] = {}
    for record in data:  # newest first
        if record["endpoint"] == endpoint:
            found.setdefault(record["user_id"], record["id"])
    return found


def _search(client: httpx.Client) -> None:
    r = client.post("/v1/search", json={"query": "年度预算"})
    assert r.status_code == 200, r.text


def _answer(client: httpx.Client) -> str:
    r = client.post("/v1/chat", json={"message": "年度预算是多少？", "stream": False})
    assert r.status_code == 200, r.text
    return str(r.json()["answer_id"])


def test_ones_own_search_record_takes_no_feedback(world: World) -> None:
    with world.client("ann") as ann:
        _search(ann)
        search_id = _records(world, "search")[world.ids["ann"]]
        path = f"/v1/answers/{search_id}/feedback"
        r = ann.post(path, json=UP)
        assert r.status_code == 400, r.text
        assert r.json() == {
            "detail": "feedback is for answers: this record is a search, not an answer"
        }
        r = ann.post(path, json=UP, headers=ZH)
        assert r.status_code == 400
        assert r.json()["detail"] == "只能对回答给出反馈：此记录是一次 search，不是回答"
        records = ann.get("/v1/audit/answers", params={"limit": 500}).json()["data"]
        assert next(r for r in records if r["id"] == search_id)["feedback"] is None


def test_ones_own_answer_takes_feedback(world: World) -> None:
    with world.client("bob") as bob:
        answer_id = _answer(bob)
        r = bob.post(f"/v1/answers/{answer_id}/feedback", json=UP)
        assert r.status_code == 200, r.text
        assert r.json()["rating"] == "up"


def test_anyone_elses_record_is_not_found_like_a_missing_one(world: World) -> None:
    with world.client("bob") as bob:
        _search(bob)
        bob_answer = _answer(bob)
    bob_search = _records(world, "search")[world.ids["bob"]]
    missing = "00000000-0000-4000-8000-000000000000"
    for who in ("ann", "carol", "zed"):
        with world.client(who) as other:
            answers = [
                other.post(f"/v1/answers/{target}/feedback", json=UP, headers=ZH)
                for target in (bob_search, bob_answer, missing)
            ]
        assert {(r.status_code, r.json()["detail"]) for r in answers} == {(404, "找不到该回答")}
