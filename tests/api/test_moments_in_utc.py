"""Every moment the API serves carries its zone, and a moment given in any zone filters as that
moment, on SQLite (the embedded default) as on PostgreSQL.

On SQLite a moment read back from a row came out naive: a document listed after its upload read
``"created_at": "2026-12-03T16:12:34.423087"`` (the upload's own answer had the ``Z``), which
the portal's ``new Date()`` and most clients take as local time; and an audit ``since`` given as
``…T23:00:00+08:00`` was compared by its wall clock, so an auditor in Beijing asking for the last
hour got nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from tests.api.world import World, upload, wait_terminal
from tests.live import ThreadServer
from tests.support import make_settings

BEIJING = timezone(timedelta(hours=8))
TAIPEI = timezone(timedelta(hours=8))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request, tmp_path_factory) -> Iterator[World]:  # type: ignore[no-untyped-def]
    database = {"url": request.getfixturevalue("pg_url")} if request.param == "postgresql" else {}
    settings = make_settings(tmp_path_factory.mktemp(f"utc-{request.param}"), database=database)
    with ThreadServer(settings) as server:
        yield World(server)


def _moment(value: str) -> datetime:
    moment = datetime.fromisoformat(value)
    assert moment.tzinfo is not None, f"{value!r} has no time zone"
    assert moment.utcoffset() == timedelta(0), f"{value!r} is not UTC"
    return moment


def test_stored_moments_are_served_with_their_zone(world: World) -> None:
    with world.client("ann") as ann:
        created = ann.post("/v1/admin/users", json={"name": "王小明"})
        assert created.status_code == 201, created.text
        listed = ann.get("/v1/admin/users", params={"q": "王小明"}).json()["data"][0]
        assert _moment(listed["created_at"]) == _moment(created.json()["created_at"])
        assert _moment(ann.get("/v1/admin/tenant").json()["created_at"])
        group = ann.post("/v1/admin/groups", json={"name": "會計部"}).json()
        (listed_group,) = [
            g for g in ann.get("/v1/admin/groups").json()["data"] if g["id"] == group["id"]
        ]
        assert _moment(listed_group["created_at"]) == _moment(group["created_at"])
        key = ann.get(f"/v1/admin/users/{world.ids['bob']}/keys").json()["data"][0]
        assert _moment(key["created_at"])

        r = upload(ann, [("年假規定.txt", "員工每年享有特別休假十四天。Annual leave.".encode())])
        assert r.status_code == 202, r.text
        sent = r.json()["data"][0]
        doc = wait_terminal(ann, sent["id"])
        assert _moment(doc["created_at"]) == _moment(sent["created_at"])
        assert _moment(doc["updated_at"]) >= _moment(sent["updated_at"])
        listed_doc = ann.get("/v1/documents", params={"q": "年假"}).json()["data"][0]
        assert _moment(listed_doc["created_at"]) == _moment(sent["created_at"])

        event = ann.get("/v1/audit/events", params={"limit": 1}).json()["data"][0]
        assert _moment(event["created_at"])


@pytest.mark.parametrize(("zone", "lang"), [(UTC, "en"), (BEIJING, "zh-CN"), (TAIPEI, "zh-TW")])
def test_audit_window_in_any_zone_is_that_moment(world: World, zone: timezone, lang: str) -> None:
    with world.client("ann") as ann:
        ann.headers["Accept-Language"] = lang
        name = f"window-{lang}"
        r = ann.post("/v1/admin/groups", json={"name": name})
        assert r.status_code == 201, r.text
        made = _moment(r.json()["created_at"])

        def found(**window: datetime) -> bool:
            params = {"action": "group.create", "target_id": r.json()["id"]}
            params.update({k: v.astimezone(zone).isoformat() for k, v in window.items()})
            answer = ann.get("/v1/audit/events", params=params)
            assert answer.status_code == 200, answer.text
            return answer.json()["count"] == 1

        hour = timedelta(hours=1)
        assert found(since=made - hour)
        assert found(since=made - hour, until=made + hour)
        assert not found(since=made + hour)
        assert not found(until=made - hour)


def test_session_expiry_is_served_with_its_zone(world: World) -> None:
    """The sign-in's own answer and the session read back agree, zone included."""
    with world.client("ann") as ann:
        reset = ann.post(f"/v1/admin/users/{world.ids['carol']}/password")
        assert reset.status_code == 200, reset.text
    with httpx.Client(base_url=world.url, timeout=30) as browser:
        login = browser.post(
            "/v1/auth/login",
            json={
                "tenant": world.tenant_a.name,
                "username": "carol",
                "password": reset.json()["password"],
            },
        )
        assert login.status_code == 200, login.text
        session = browser.get("/v1/auth/session")
        assert session.status_code == 200, session.text
        assert _moment(session.json()["expires_at"]) == _moment(login.json()["expires_at"])
