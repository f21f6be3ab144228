"""URL-encoded form bodies over real HTTP: a field whose name or value is not UTF-8 (raw, or
percent-encoded as ``%FF``) is refused with the multipart path's 400 naming it, in the
caller's language (it was decoded leniently: ``%FF`` as U+FFFD, raw bytes as Latin-1); raw
UTF-8 sent unescaped is read as the text it is (it became mojibake, and the sign-in failed)."""

from __future__ import annotations

import uuid

import pytest

from core.db import identity, web_sessions
from core.db.models import utcnow
from core.db.session import transaction
from services import passwords
from tests.live import ThreadServer
from tests.support import make_settings
from tests.web.test_pages import browser, form_token, sign_in

PASSWORD = "一个足够长的密码 and words"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("urlencoded"), database={"url": pg_url})
    with ThreadServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def tenant(server: ThreadServer) -> str:
    name = f"研发部-{uuid.uuid4().hex[:6]}"
    with transaction(server.container.sessions) as s:
        user = identity.create_user(s, identity.create_tenant(s, name).id, "王芳")
        web_sessions.set_password_hash(
            s, user, passwords.hash_password(PASSWORD), now=utcnow(), actor_id=None
        )
    return name


BAD_FIELDS = [
    (b"csrf_token=x&tenant=\xff\xfe&username=u", "tenant"),  # raw, in a value
    (b"csrf_token=x&tenant=t&username=%FF", "username"),  # percent-encoded, in a value
    (b"password=%C3%28&username=u", "password"),  # a broken two-byte sequence
    (b"csrf_token=x&user%FFname=u", "user\ufffdname"),  # percent-encoded, in a name
    (b"\xe4\xb8name=u", "\ufffdname"),  # raw, in a name (a truncated character)
]


@pytest.mark.parametrize(("raw", "field"), BAD_FIELDS)
def test_a_field_that_is_not_utf8_is_refused_by_name(
    server: ThreadServer, raw: bytes, field: str
) -> None:
    path = "/login"
    with browser(server, "en-GB") as client:
        r = client.post(path, content=raw, headers=FORM)
        assert r.status_code == 400, r.text
        assert r.json()["detail"] == f"form field {field!r} is not valid utf-8 text"
    with browser(server, "zh-CN,zh;q=0.9") as client:
        r = client.post(path, content=raw, headers=FORM)
        assert r.status_code == 400, r.text
        assert r.json()["detail"] == f"表单字段 {field!r} 不是有效的 utf-8 文本"
    with browser(server, "zh-TW") as client:
        r = client.post(path, content=raw, headers=FORM)
        assert r.status_code == 400, r.text
        assert r.json()["detail"] == f"表單欄位 {field!r} 不是有效的 utf-8 文本"


def test_the_signed_in_forms_refuse_it_too(server: ThreadServer, tenant: str) -> None:
    """Sign-out, and the API's form route (an upload), signed in by the page."""
    with browser(server, "zh-CN") as client:
        assert sign_in(client, tenant, "王芳", PASSWORD).status_code == 303
        token = form_token(client.get("/").text)
        r = client.post("/logout", content=b"csrf_token=%FF" + token.encode(), headers=FORM)
        assert r.status_code == 400, r.text
        assert r.json()["detail"] == "表单字段 'csrf_token' 不是有效的 utf-8 文本"
        headers = {**FORM, "X-CSRF-Token": token}
        r = client.post("/v1/documents", content=b"tags=%FF%FE", headers=headers)
        assert r.status_code == 400, r.text
        assert r.json()["detail"] == "表单字段 'tags' 不是有效的 utf-8 文本"
        assert client.get("/v1/me").status_code == 200  # still signed in


def test_raw_utf8_signs_in_as_the_text_sent(server: ThreadServer, tenant: str) -> None:
    with browser(server) as client:
        token = form_token(client.get("/login").text)
        fields = {"csrf_token": token, "tenant": tenant, "username": "王芳", "password": PASSWORD}
        raw = "&".join(f"{k}={v.replace(' ', '+')}" for k, v in fields.items()).encode()
        assert not raw.isascii()  # unescaped, as a hand-made client sends it
        r = client.post("/login", content=raw, headers=FORM)
        assert r.status_code == 303 and r.headers["location"] == "/", r.text[:300]
        assert client.get("/v1/me").json()["name"] == "王芳"


def test_percent_encoded_utf8_still_signs_in(server: ThreadServer, tenant: str) -> None:
    with browser(server, "zh-CN") as client:
        assert sign_in(client, tenant, "王芳", PASSWORD).status_code == 303
