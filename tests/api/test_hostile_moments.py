"""A moment a client sends (an audit filter's ``since``/``until``, a search filter's
``created_after``/``created_before``) is one the server can hold in UTC, over real HTTP
against PostgreSQL: ``9999-12-31T23:59:59-23:59`` is a valid ISO 8601 time with a zone, but
in UTC it falls in the year 10000, which Python's ``datetime`` cannot hold; converting it to
UTC for the query raised ``OverflowError``, a 500. It is now a 422 naming the field, in the
caller's language, like any other value out of range."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.hostile import TW, ZH, has_chinese

# Valid ISO 8601 with a zone; outside Python's years 1 to 9999 once converted to UTC.
PAST_THE_END = "9999-12-31T23:59:59-23:59"
BEFORE_THE_START = "0001-01-01T00:00:00+23:59"


def audit_events(client: httpx.Client, field: str, value: str, **headers: str) -> httpx.Response:
    return client.get("/v1/audit/events", params={field: value}, headers=headers)


def search(client: httpx.Client, field: str, value: str, **headers: str) -> httpx.Response:
    body = {"query": "报销期限", "filters": {field: value}}
    return client.post("/v1/search", json=body, headers=headers)


CASES = [
    (audit_events, "since", ["query", "since"]),
    (audit_events, "until", ["query", "until"]),
    (search, "created_after", ["body", "filters", "created_after"]),
    (search, "created_before", ["body", "filters", "created_before"]),
]


@pytest.mark.parametrize(("send", "field", "loc"), CASES)
@pytest.mark.parametrize("value", [PAST_THE_END, BEFORE_THE_START])
def test_a_moment_outside_the_years_utc_can_hold_is_422_naming_its_field(
    hostile_zed: httpx.Client, send, field: str, loc: list[str], value: str
) -> None:  # type: ignore[no-untyped-def]
    for headers in ({}, ZH, TW):
        r = send(hostile_zed, field, value, **headers)
        assert r.status_code == 422, (field, value, r.status_code, r.text[:300])
        (error,) = r.json()["detail"]
        assert error["loc"] == loc, error
        said = error["msg"]
        assert has_chinese(said) if headers else "UTC" in said, said
        assert value not in r.text  # the input is not echoed
    # The same wall clock in UTC is an ordinary filter.
    assert send(hostile_zed, field, value[:19] + "Z").status_code == 200


@given(
    moment=st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59)),
    offset_minutes=st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1),
)
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_any_moment_with_any_zone_is_answered_200_or_422(
    hostile_zed: httpx.Client, moment: datetime, offset_minutes: int
) -> None:
    zone = timezone(timedelta(minutes=offset_minutes))
    sent = moment.replace(tzinfo=zone).isoformat()
    try:
        moment.replace(tzinfo=zone).astimezone(UTC)
        expected = 200
    except OverflowError:
        expected = 422
    for send, field, _ in CASES:
        r = send(hostile_zed, field, sent)
        assert r.status_code == expected, (field, sent, r.status_code, r.text[:300])
