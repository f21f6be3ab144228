"""The sign-in page, sign-out and the signed-in placeholder over real HTTP (PostgreSQL), in
Chinese and English: form CSRF, cookies, redirects, and the messages people see."""

from __future__ import annotations

import re
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from core.db import identity, web_sessions
from core.db import keys as key_queries
from core.db.models import utcnow
from core.db.session import transaction
from services import passwords
from tests.live import ThreadServer, zhiku_env
from tests.support import make_settings

PASSWORD = "一个足够长的密码 and words"


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(
        tmp_path_factory.mktemp("pages"),
        database={"url": pg_url},
        web={"lockout_failures": 3, "address_failures": 1000},
    )
    with ThreadServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def tenant(server: ThreadServer) -> str:
    name = f"部门-{uuid.uuid4().hex[:6]}"
    with transaction(server.container.sessions) as s:
        tenant_id = identity.create_tenant(s, name).id
        for username in ("李娜", "lena", "locked-out"):
            user = identity.create_user(s, tenant_id, username, is_admin=username == "lena")
            web_sessions.set_password_hash(
                s, user, passwords.hash_password(PASSWORD), now=utcnow(), actor_id=None
            )
    return name


def browser(server: ThreadServer, language: str = "en") -> httpx.Client:
    return httpx.Client(
        base_url=server.url,
        headers={"Origin": server.url, "Accept-Language": language},
        follow_redirects=False,
        timeout=60,
    )


def form_token(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def sign_in(client: httpx.Client, tenant: str, username: str, password: str) -> httpx.Response:
    token = form_token(client.get("/login").text)
    return client.post(
        "/login",
        data={"csrf_token": token, "tenant": tenant, "username": username, "password": password},
    )


@pytest.mark.parametrize(
    ("language", "words"),
    [("zh-CN,zh;q=0.9", ["登录", "用户名", "密码", "组织"]), ("en-GB", ["Sign in", "Username"])],
)
def test_the_sign_in_page_speaks_the_browsers_language(
    server: ThreadServer, language: str, words: list[str]
) -> None:
    with browser(server, language) as client:
        r = client.get("/login")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert all(word in r.text for word in words)
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        csrf_cookie = r.headers["set-cookie"].lower()
        assert "zhiku_login_csrf=" in csrf_cookie and "httponly" in csrf_cookie
        assert client.get("/static/portal.css").status_code == 200


def test_the_language_switch_is_remembered(server: ThreadServer) -> None:
    with browser(server, "en") as client:
        assert "用户名" in client.get("/login?lang=zh-CN").text
        assert "用户名" in client.get("/login").text  # the cookie, over the browser's English
        assert "Username" in client.get("/login?lang=en").text


def test_sign_in_and_out_through_the_pages(server: ThreadServer, tenant: str) -> None:
    with browser(server, "zh-CN") as client:
        assert client.get("/").headers["location"] == "/login"
        r = sign_in(client, tenant, "李娜", PASSWORD)
        assert r.status_code == 303 and r.headers["location"] == "/"
        assert "zhiku_session" in client.cookies
        home = client.get("/")
        assert home.status_code == 200 and "李娜" in home.text and tenant in home.text
        assert "退出登录" in home.text
        # The page's cookie also reaches the JSON API (the portal's scripts use it).
        assert client.get("/v1/me").json()["name"] == "李娜"
        # Sign-out needs the session's token from the page.
        assert client.post("/logout", data={"csrf_token": "nope"}).status_code == 403
        r = client.post("/logout", data={"csrf_token": form_token(home.text)})
        assert r.status_code == 303 and r.headers["location"] == "/login?signed_out=1"
        assert client.get("/").headers["location"] == "/login"
        assert "您已退出登录" in client.get("/login?signed_out=1").text


def test_the_sign_in_form_refuses_a_forged_post(server: ThreadServer, tenant: str) -> None:
    # Another site's form: no pre-session cookie of ours, and a foreign Origin.
    data = {"csrf_token": "x" * 43, "tenant": tenant, "username": "lena", "password": PASSWORD}
    with browser(server) as client:
        r = client.post("/login", data=data)
        assert r.status_code == 403 and "zhiku_session" not in client.cookies
        r = client.post("/login", data=data, headers={"Origin": "https://evil.example"})
        assert r.status_code == 403


def test_wrong_passwords_and_lockout_are_told_plainly(server: ThreadServer, tenant: str) -> None:
    with browser(server, "en") as client:
        for _ in range(3):
            r = sign_in(client, tenant, "locked-out", "not the password")
            assert r.status_code == 401 and "Wrong organisation, username or password" in r.text
            assert "not the password" not in r.text  # the password is never sent back
        r = sign_in(client, tenant, "locked-out", PASSWORD)
        assert r.status_code == 429 and "Too many failed sign-ins" in r.text
        assert int(r.headers["retry-after"]) > 0
    with browser(server, "zh-CN") as client:
        assert "登录失败次数过多" in sign_in(client, tenant, "locked-out", PASSWORD).text


def test_an_api_key_is_still_the_way_for_scripts(server: ThreadServer, tenant: str) -> None:
    """A key request to a page gets no session: pages are for browsers."""
    with transaction(server.container.sessions) as s:
        t = identity.get_tenant_by_name(s, tenant)
        user = identity.get_user_by_name(s, t.id, "lena")
        key = key_queries.issue_api_key(s, user, server.container.settings.secret_key).plaintext
    r = httpx.get(server.url + "/", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 303 and r.headers["location"] == "/login"


def test_the_operator_sets_a_password_from_standard_input(
    server: ThreadServer, tenant: str, tmp_path: Path
) -> None:
    new = "set by the operator, 操作员"
    env = zhiku_env(
        {
            "ZHIKU_ENVIRONMENT": "test",
            "ZHIKU_DATA_DIR": str(tmp_path),
            "ZHIKU_DATABASE__URL": server.container.settings.database.url,
        }
    )
    command = [sys.executable, "-m", "zhiku.cli", "admin", "set-password", tenant, "李娜"]
    with browser(server) as client:
        assert sign_in(client, tenant, "李娜", PASSWORD).status_code == 303
        for typed, code in (("too short", 1), (new, 0)):
            done = subprocess.run(
                command, input=typed + "\n", env=env, capture_output=True, text=True, timeout=120
            )
            assert done.returncode == code, done.stderr
            assert typed not in done.stdout + done.stderr  # never echoed
        assert client.get("/").headers["location"] == "/login"  # the session ended
        assert sign_in(client, tenant, "李娜", PASSWORD).status_code == 401
        assert sign_in(client, tenant, "李娜", new).status_code == 303
