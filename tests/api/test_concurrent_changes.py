"""A request that loses a race with another at the database (both add the same member; one
adds to a group the other deletes) gets a 409 saying to try again, in the caller's language,
not a 500: the check before its write passed, the constraint behind it did not."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import IntegrityError

from api import errors
from core.db import keys as key_queries
from core.db.conflicts import CONCURRENT_CHANGE
from core.db.models import Membership
from core.db.session import transaction
from tests.api.world import World
from tests.live import ThreadServer
from tests.support import make_settings

ZH = {"Accept-Language": "zh-CN"}


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("concurrent"), database={"url": pg_url})
    with ThreadServer(settings) as srv:
        yield srv


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


@pytest.mark.parametrize("headers", [{}, ZH])
def test_adding_a_member_another_request_is_adding_is_409(
    server: ThreadServer, headers: dict[str, str]
) -> None:
    world = World(server)
    eng, carol = world.eng.id, world.ids["carol"]
    answers: list[httpx.Response] = []
    ann = world.client("ann")
    put = threading.Thread(
        target=lambda: answers.append(
            ann.put(f"/v1/admin/groups/{eng}/members/{carol}", headers=headers)
        )
    )
    with transaction(server.container.sessions) as s:
        # Another request has added carol and not committed yet: ours finds no membership,
        # inserts one, and waits on the same key until that one commits.
        s.add(Membership(user_id=carol, group_id=eng))
        s.flush()
        put.start()
        time.sleep(1.5)
    put.join(timeout=60)
    ann.close()
    (r,) = answers
    assert r.status_code == 409, r.text[:300]
    detail = r.json()["detail"]
    assert has_chinese(detail) if headers else detail == CONCURRENT_CHANGE
    with world.client("ann") as ann:  # trying again: it is done, as asked
        assert ann.put(f"/v1/admin/groups/{eng}/members/{carol}").status_code == 204


@pytest.mark.parametrize("path", ["/v1/admin/keys/{}/rotate", "/v1/me/keys/{}/rotate"])
def test_a_key_revoked_while_it_is_rotated_has_no_live_successor(
    server: ThreadServer, path: str
) -> None:
    world = World(server)
    who = "ann" if path.startswith("/v1/me") else "bob"  # ann's own key, or a member's
    with world.client("ann") as ann:
        before = ann.get(f"/v1/admin/users/{world.ids[who]}/keys").json()["data"]
        key = ann.post("/v1/me/keys", json={"name": "ci"}).json() if who == "ann" else before[0]
        kept = [k["id"] for k in before] if who == "ann" else []  # the key ann calls with
    answers: list[httpx.Response] = []
    ann = world.client("ann")
    rotate = threading.Thread(
        target=lambda: answers.append(ann.post(path.format(key["id"]), json={}, headers=ZH))
    )
    with transaction(server.container.sessions) as s:
        # A revocation of the key is under way, not yet committed, when the rotation comes.
        key_queries.revoke_key(s, key_queries.key_to_change(s, None, key["id"]))
        rotate.start()
        time.sleep(1.5)
    rotate.join(timeout=60)
    ann.close()
    (r,) = answers
    assert r.status_code == 409, r.text[:300]  # a revoked key cannot be rotated
    assert has_chinese(r.json()["detail"])
    with world.client("ann") as ann:
        listed = ann.get(f"/v1/admin/users/{world.ids[who]}/keys").json()["data"]
    assert [k["id"] for k in listed if k["active"]] == kept


class _DriverError(Exception):
    def __init__(self, sqlstate: str) -> None:
        super().__init__(f"violation {sqlstate}")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "status"),
    [("23505", 409), ("23503", 409), ("23502", 500), ("23514", 500)],
)
def test_only_unique_and_foreign_key_violations_are_conflicts(sqlstate: str, status: int) -> None:
    """A NOT NULL or CHECK violation is a bug (500, its text never shown), not a race."""
    app = FastAPI()
    errors.install(app)

    @app.get("/write")
    def write() -> None:
        raise IntegrityError("INSERT …", {}, _DriverError(sqlstate))

    with TestClient(app, raise_server_exceptions=False) as client:
        english, chinese = client.get("/write"), client.get("/write", headers=ZH)
    assert (english.status_code, chinese.status_code) == (status, status)
    assert "INSERT" not in english.text and sqlstate not in english.text
    if status == 409:
        assert english.json() == {"detail": CONCURRENT_CHANGE}
        assert has_chinese(chinese.json()["detail"])
