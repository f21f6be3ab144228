"""A moment without a time zone is refused (422, saying to add one, in the caller's language)
wherever the API takes one: the audit trail's ``since``/``until`` read it as UTC (eight hours
off for an auditor in Beijing who meant local time) while search's ``created_after``/
``created_before`` refused it (400); both now refuse it alike. A moment with a zone, in any
zone, is taken as that moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest

from tests.api.world import World
from tests.live import ThreadServer
from tests.support import make_settings

ZH = {"Accept-Language": "zh-CN"}
NAIVE = ["2026-01-31T08:00:00", "2026-01-31 08:00", "2026-01-31T08:00:00.123456"]


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("naive-times"), database={"url": pg_url})
    with ThreadServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def ann(server: ThreadServer) -> httpx.Client:
    with World(server).client("ann") as client:
        yield client


def _one_error(r: httpx.Response, loc: list[str]) -> str:
    assert r.status_code == 422, r.text
    (error,) = r.json()["detail"]
    assert error["loc"] == loc
    return str(error["msg"])


@pytest.mark.parametrize("param", ["since", "until"])
@pytest.mark.parametrize("value", NAIVE)
def test_audit_times_without_a_zone_are_refused(ann: httpx.Client, param: str, value: str) -> None:
    r = ann.get("/v1/audit/events", params={param: value})
    assert "timezone" in _one_error(r, ["query", param])
    r = ann.get("/v1/audit/events", params={param: value}, headers=ZH)
    assert "时区" in _one_error(r, ["query", param])


@pytest.mark.parametrize("field", ["created_after", "created_before"])
@pytest.mark.parametrize("value", NAIVE)
def test_search_times_without_a_zone_are_refused(ann: httpx.Client, field: str, value: str) -> None:
    body = {"query": "预算", "filters": {field: value}}
    r = ann.post("/v1/search", json=body)
    assert "timezone" in _one_error(r, ["body", "filters", field])
    r = ann.post("/v1/search", json=body, headers=ZH)
    assert "时区" in _one_error(r, ["body", "filters", field])


def test_audit_times_in_any_zone_are_that_moment(ann: httpx.Client) -> None:
    assert ann.post("/v1/admin/groups", json={"name": "zoned"}).status_code == 201
    beijing = timezone(timedelta(hours=8))
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    for since in (an_hour_ago.isoformat(), an_hour_ago.astimezone(beijing).isoformat()):
        r = ann.get("/v1/audit/events", params={"since": since, "action": "group.create"})
        assert r.status_code == 200, r.text
        assert "zoned" in {e["details"].get("name") for e in r.json()["data"]}
    later = (datetime.now(UTC) + timedelta(hours=1)).astimezone(beijing).isoformat()
    r = ann.get("/v1/audit/events", params={"since": later})
    assert r.status_code == 200 and r.json()["data"] == []
