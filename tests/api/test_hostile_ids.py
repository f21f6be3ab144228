"""Another tenant's or another user's id, in every place a route reads one, is answered
exactly as an id that does not exist, over real HTTP against PostgreSQL: the same status and
the same words (the ids aside), in English and Chinese, so no answer tells a caller that
something they may not see exists. The routes' own tests check the 404s one by one; this
checks every id position at once against its twin that names nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import httpx
import pytest

from index.types import chunk_id
from tests.api.hostile import ZH
from tests.api.world import World, upload, wait_terminal

# (method, path, JSON body): each id position of the API. Admin routes run as zed only.
ROUTES: list[tuple[str, str, dict[str, object] | None]] = [
    ("GET", "/v1/documents/{doc}", None),
    ("DELETE", "/v1/documents/{doc}", None),
    ("POST", "/v1/documents/{doc}/retry", None),
    ("PATCH", "/v1/documents/{doc}/access", {"everyone": True}),
    ("GET", "/v1/documents/{doc}/passages/{chunk}", None),
    ("GET", "/v1/documents/{doc}/file", None),
    ("GET", "/v1/documents/{doc}/file?version=1", None),
    ("GET", "/v1/documents?id={doc}", None),
    ("GET", "/v1/conversations/{conversation}", None),
    ("DELETE", "/v1/conversations/{conversation}", None),
    ("POST", "/v1/chat", {"message": "x", "stream": False, "conversation_id": "{conversation}"}),
    ("POST", "/v1/answers/{answer}/feedback", {"rating": "up"}),
    ("POST", "/v1/search", {"query": "秘密", "filters": {"document_ids": ["{doc}"]}}),
    ("DELETE", "/v1/me/keys/{key}", None),
    ("POST", "/v1/me/keys/{key}/rotate", {}),
    ("GET", "/v1/admin/users/{user}", None),
    ("POST", "/v1/admin/users/{user}/disable", None),
    ("PUT", "/v1/admin/users/{user}/roles", {"is_admin": False, "is_auditor": False}),
    ("GET", "/v1/admin/users/{user}/keys", None),
    ("DELETE", "/v1/admin/keys/{key}", None),
    ("GET", "/v1/admin/groups/{group}/members", None),
    ("PUT", "/v1/admin/groups/{group}/members/{user}", None),
    ("DELETE", "/v1/admin/groups/{group}", None),
    ("GET", "/v1/audit/answers?user_id={user}", None),
    ("GET", "/v1/audit/events?target_id={doc}", None),
    ("GET", "/v1/directory?user={user}", None),
]


@pytest.fixture(scope="module")
def bobs(hostile_world: World) -> Iterator[dict[str, str]]:
    """The ids of what bob (tenant A, group eng) has: a private document and its passage, a
    conversation and its answer, a key; his user id and his group's."""
    world = hostile_world
    with world.client("bob") as bob:
        r = bob.post("/v1/chat", json={"message": "年度预算是多少？", "stream": False})
        assert r.status_code == 200, r.text[:300]
        turn = r.json()
        r = upload(bob, [("秘密.txt", "鲍勃的秘密文件。Bob's secret file.".encode())])
        assert r.status_code == 202, r.text[:300]
        doc = r.json()["data"][0]["id"]
        assert wait_terminal(bob, doc)["status"] == "ready"
        (key,) = bob.get("/v1/me/keys").json()["data"]
    yield {
        "doc": doc,
        "chunk": chunk_id(world.tenant_a.id, doc, 1, 0),
        "conversation": turn["conversation_id"],
        "answer": turn["answer_id"],
        "key": key["id"],
        "user": world.ids["bob"],
        "group": world.eng.id,
    }


def _fill(template: object, ids: dict[str, str]) -> object:
    if isinstance(template, str):
        return template.format(**ids)
    if isinstance(template, list):
        return [_fill(item, ids) for item in template]
    if isinstance(template, dict):
        return {name: _fill(value, ids) for name, value in template.items()}
    return template


def _answer(client: httpx.Client, route: tuple, ids: dict[str, str], headers: dict) -> tuple:  # type: ignore[type-arg]
    method, path, body = route
    r = client.request(method, path.format(**ids), json=_fill(body, ids), headers=headers)
    text = r.text
    for value in ids.values():
        text = text.replace(value, "<id>")
    return r.status_code, _without_timings(text)


def _without_timings(text: str) -> str:
    # A search's answer carries its timings, which differ between any two searches.
    head, found, _ = text.partition('"timings_ms"')
    return head if found else text


@pytest.mark.parametrize("who", ["zed", "carol"])
def test_anothers_id_is_answered_as_one_that_does_not_exist(
    hostile_world: World, bobs: dict[str, str], who: str
) -> None:
    """zed (tenant B's admin) and carol (bob's colleague, not in eng, no admin) ask for bob's
    things; each answer equals the one for ids of the same shape that name nothing."""
    fake = str(uuid.uuid4())
    nothing = {name: fake for name in bobs}
    nothing["chunk"] = chunk_id(hostile_world.tenant_a.id, fake, 1, 0)
    with hostile_world.client(who) as client:
        for route in ROUTES:
            if who == "carol" and route[1].startswith(("/v1/admin/", "/v1/audit/")):
                continue  # not hers to call at all (403 either way)
            if who == "carol" and route[1].startswith("/v1/directory"):
                continue  # the directory names a tenant's own users and groups by design
            for headers in ({}, ZH):
                real = _answer(client, route, bobs, headers)
                made_up = _answer(client, route, nothing, headers)
                assert real == made_up, (who, route[:2], headers, real, made_up)
                assert real[0] != 500, (route[:2], real)
    # And bob's things are all still there.
    with hostile_world.client("bob") as bob:
        assert bob.get(f"/v1/documents/{bobs['doc']}").status_code == 200
        assert bob.get(f"/v1/conversations/{bobs['conversation']}").status_code == 200
        assert bob.get("/v1/me").status_code == 200
