"""A value PostgreSQL refuses to store (a NUL byte in text) is the client's 400 or 4xx, never
a 500: sign-in's organisation field and the sign-in form (whose fields reach the database
unvalidated) were the ones that slipped, and any other field that does now answers 400 in the
caller's language rather than a 500."""

from __future__ import annotations

import re

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.exc import DataError

from api import errors
from api.errors import UNSTORABLE
from tests.api.world import World
from tests.live import ThreadServer
from tests.support import make_settings

ZH = {"Accept-Language": "zh-CN"}


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("unstorable"), database={"url": pg_url})
    with ThreadServer(settings) as srv:
        yield srv


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


@pytest.mark.parametrize("field", ["tenant", "username"])
@pytest.mark.parametrize("value", ["a\x00b", "a\x1bb", "\ud800"])
def test_sign_in_with_a_control_character_is_422(
    server: ThreadServer, field: str, value: str
) -> None:
    body = {"tenant": "default", "username": "admin", "password": "not the password"}
    raw = json_bytes({**body, field: value})
    for headers in ({}, ZH):
        r = httpx.post(
            server.url + "/v1/auth/login",
            content=raw,
            headers={**headers, "Content-Type": "application/json", "Origin": server.url},
        )
        assert r.status_code == 422, (r.status_code, r.text[:300])
        (error,) = r.json()["detail"]
        assert error["loc"] == ["body", field]
        if headers:
            assert has_chinese(error["msg"]), error


@pytest.fixture(scope="module")
def tenant(server: ThreadServer) -> str:
    """An organisation that exists (with user ann), so a username is looked up too."""
    return World(server).tenant_a.name


@pytest.mark.parametrize("field", ["tenant", "username"])
def test_the_sign_in_form_refuses_a_nul_like_an_unknown_name(
    server: ThreadServer, tenant: str, field: str
) -> None:
    with httpx.Client(base_url=server.url, headers={"Origin": server.url}) as browser:
        page = browser.get("/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page)
        assert token is not None
        form = {"csrf_token": token.group(1), "tenant": tenant, "username": "ann"}
        r = browser.post("/login", data={**form, field: "ad\x00min", "password": "x" * 12})
        assert r.status_code == 401, (r.status_code, r.text[:300])
        assert "<html" in r.text


def json_bytes(body: dict[str, str]) -> bytes:
    import json

    return json.dumps(body).encode("utf-8", "surrogatepass")


def test_a_value_the_database_refuses_is_400_in_the_callers_language() -> None:
    """The net under every field: PostgreSQL's DataError (NUL in text, a number past its
    column) raised by a route is the request's fault, worded without the driver's text."""
    app = FastAPI()
    errors.install(app)

    @app.get("/store")
    def store() -> None:
        raise DataError("INSERT …", {"name": "a\x00b"}, ValueError("NUL (0x00) bytes"))

    with TestClient(app, raise_server_exceptions=False) as client:
        english = client.get("/store")
        chinese = client.get("/store", headers=ZH)
    assert (english.status_code, english.json()) == (400, {"detail": UNSTORABLE})
    assert chinese.status_code == 400 and has_chinese(chinese.json()["detail"])
    assert "INSERT" not in english.text and "0x00" not in english.text
