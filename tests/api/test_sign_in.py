"""Web sign-in over real HTTP (PostgreSQL, the embedded default): sessions, cookie flags,
CSRF and origin checks, lockout, disabled users, password changes, and no password ever
written to a log or an audit event (docs/security.md, "Browser sessions")."""

from __future__ import annotations

import logging
import socket
import uuid
from datetime import timedelta

import httpx
import pytest

from core.db import identity, web_sessions
from core.db import keys as key_queries
from core.db.models import AuditEvent, SignInAttempt, WebSession, utcnow
from core.db.session import transaction
from services import passwords
from tests.live import ThreadServer
from tests.support import make_settings

PASSWORDS = {
    "ann": "ann's long passphrase 1",
    "bob": "correct horse battery staple",
    "carol": "carol-has-a-long-one",
    "张伟": "我的密码是一二三四五六七八九十",
    "zed": "zed in tenant b, long",
}
LOCKOUT_FAILURES = 5


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(
        tmp_path_factory.mktemp("sign-in"),
        database={"url": pg_url},
        web={"lockout_failures": LOCKOUT_FAILURES, "address_failures": 1000},
    )
    with ThreadServer(settings) as srv:
        yield srv


class People:
    """Tenant A: ann (admin), bob, carol, 张伟; tenant B: zed. Each with a password."""

    def __init__(self, server: ThreadServer) -> None:
        run = uuid.uuid4().hex[:6]
        self.url = server.url
        self.sessions = server.container.sessions
        self.web = server.container.services.sign_in.web
        pepper = server.container.settings.secret_key
        with transaction(self.sessions) as s:
            self.tenant_a = identity.create_tenant(s, f"组织-a-{run}").name
            self.tenant_b = identity.create_tenant(s, f"org-b-{run}").name
            a, b = (identity.get_tenant_by_name(s, n).id for n in (self.tenant_a, self.tenant_b))
            users = {
                "ann": identity.create_user(s, a, "ann", is_admin=True),
                "bob": identity.create_user(s, a, "bob"),
                "carol": identity.create_user(s, a, "carol"),
                "张伟": identity.create_user(s, a, "张伟"),
                "zed": identity.create_user(s, b, "zed"),
            }
            for name, user in users.items():
                web_sessions.set_password_hash(
                    s, user, passwords.hash_password(PASSWORDS[name]), now=utcnow(), actor_id=None
                )
            self.ids = {name: user.id for name, user in users.items()}
            self.ann_key = key_queries.issue_api_key(s, users["ann"], pepper).plaintext
        self.tenant_of = {name: self.tenant_a for name in users} | {"zed": self.tenant_b}

    def browser(self, **headers: str) -> httpx.Client:
        """A client that behaves like a browser on our pages: it keeps cookies and sends
        our Origin."""
        return httpx.Client(base_url=self.url, headers={"Origin": self.url, **headers}, timeout=60)

    def sign_in(self, client: httpx.Client, who: str, password: str | None = None) -> str:
        r = client.post(
            "/v1/auth/login",
            json={
                "tenant": self.tenant_of[who],
                "username": who,
                "password": PASSWORDS[who] if password is None else password,
            },
        )
        assert r.status_code == 200, r.text
        return r.json()["csrf_token"]

    def events(self, action: str, target_id: str | None = None) -> list[AuditEvent]:
        with transaction(self.sessions) as s:
            query = s.query(AuditEvent).filter(AuditEvent.action == action)
            if target_id is not None:
                query = query.filter(AuditEvent.target_id == target_id)
            return list(query)


@pytest.fixture(scope="module")
def people(server: ThreadServer) -> People:
    return People(server)


def test_sign_in_sets_a_locked_down_cookie_that_authenticates_the_api(people: People) -> None:
    with people.browser() as browser:
        r = browser.post(
            "/v1/auth/login",
            json={"tenant": people.tenant_a, "username": "bob", "password": PASSWORDS["bob"]},
        )
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
        body = r.json()
        assert body["user"]["name"] == "bob" and body["tenant_name"] == people.tenant_a
        cookie = r.headers["set-cookie"].lower()
        assert cookie.startswith("zhiku_session=") and "httponly" in cookie
        assert "samesite=lax" in cookie and "path=/" in cookie
        assert "secure" not in cookie  # plain HTTP in development: a Secure cookie would vanish
        # The cookie is the caller on /v1/*: reading needs nothing more.
        me = browser.get("/v1/me")
        assert me.status_code == 200 and me.json()["id"] == people.ids["bob"]
        assert browser.get("/v1/documents").status_code == 200
        session = browser.get("/v1/auth/session").json()
        assert session["csrf_token"] == body["csrf_token"]
        # Searching changes nothing but is a POST: it takes the session's CSRF token.
        r = browser.post(
            "/v1/search",
            json={"query": "holiday policy"},
            headers={"X-CSRF-Token": body["csrf_token"]},
        )
        assert r.status_code == 200, r.text


def test_the_cookie_is_secure_over_https(people: People) -> None:
    # uvicorn trusts X-Forwarded-Proto from loopback, as from a reverse proxy that ends TLS.
    https_origin = people.url.replace("http://", "https://")
    r = httpx.post(
        people.url + "/v1/auth/login",
        json={"tenant": people.tenant_a, "username": "carol", "password": PASSWORDS["carol"]},
        headers={"Origin": https_origin, "X-Forwarded-Proto": "https"},
    )
    assert r.status_code == 200 and "; secure" in r.headers["set-cookie"].lower()


def test_changing_requests_need_the_csrf_token_and_our_origin(people: People) -> None:
    with people.browser() as browser:
        csrf = people.sign_in(browser, "carol")
        create = {"name": "from the portal"}
        missing = browser.post("/v1/me/keys", json=create)
        assert missing.status_code == 403 and "CSRF" in missing.json()["detail"]
        wrong = browser.post("/v1/me/keys", json=create, headers={"X-CSRF-Token": "0" * 64})
        assert wrong.status_code == 403
        cross = browser.post(
            "/v1/me/keys",
            json=create,
            headers={"X-CSRF-Token": csrf, "Origin": "https://evil.example"},
        )
        assert cross.status_code == 403 and "Origin" in cross.json()["detail"]
        # Neither Origin nor Referer: refused too; a same-origin Referer alone will do.
        del browser.headers["Origin"]
        bare = browser.post("/v1/me/keys", json=create, headers={"X-CSRF-Token": csrf})
        assert bare.status_code == 403
        ok = browser.post(
            "/v1/me/keys",
            json=create,
            headers={"X-CSRF-Token": csrf, "Referer": people.url + "/"},
        )
        assert ok.status_code == 201, ok.text
        # Nothing was made by the refused requests.
        names = [k["name"] for k in browser.get("/v1/me/keys").json()["data"]]
        assert names.count("from the portal") == 1
    # An API key needs no CSRF token, nor any Origin.
    r = httpx.post(
        people.url + "/v1/me/keys",
        json={"name": "script"},
        headers={"Authorization": f"Bearer {people.ann_key}"},
    )
    assert r.status_code == 201
    # Sign-in from another site's page is refused too.
    r = httpx.post(
        people.url + "/v1/auth/login",
        json={"tenant": people.tenant_a, "username": "carol", "password": PASSWORDS["carol"]},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403


def test_sign_out_ends_the_session(people: People) -> None:
    with people.browser() as browser:
        csrf = people.sign_in(browser, "bob")
        stolen = browser.cookies["zhiku_session"]
        assert browser.post("/v1/auth/logout").status_code == 403  # no CSRF token
        r = browser.post("/v1/auth/logout", headers={"X-CSRF-Token": csrf})
        assert r.status_code == 204 and 'zhiku_session=""' in r.headers["set-cookie"]
    # The same token, replayed, is refused: the row is revoked, not just the cookie cleared.
    r = httpx.get(people.url + "/v1/me", cookies={"zhiku_session": stolen})
    assert r.status_code == 401
    assert people.events("auth.logout", people.ids["bob"])
    assert people.events("auth.login", people.ids["bob"])


def test_an_idle_or_old_session_ends(people: People) -> None:
    """As the clock would: unused past the idle timeout; then past its absolute end."""
    idle = timedelta(seconds=people.web.idle_timeout_s + 1)
    for ending in ("idle", "lifetime"):
        with people.browser() as browser:
            people.sign_in(browser, "carol")
            assert browser.get("/v1/me").status_code == 200
            token = browser.cookies["zhiku_session"]
            with transaction(people.sessions) as s:
                row = s.get(WebSession, web_sessions.session_id_of(token))
                assert row is not None
                if ending == "idle":
                    row.last_seen_at -= idle
                else:
                    row.expires_at = utcnow()
            assert browser.get("/v1/me").status_code == 401, ending


def test_a_disabled_users_sessions_are_refused_and_ended(people: People) -> None:
    admin = {"Authorization": f"Bearer {people.ann_key}"}
    with people.browser() as browser:
        people.sign_in(browser, "张伟")
        assert browser.get("/v1/me").status_code == 200
        user = people.ids["张伟"]
        r = httpx.post(f"{people.url}/v1/admin/users/{user}/disable", headers=admin)
        assert r.status_code in (200, 204), r.text
        assert browser.get("/v1/me").status_code == 401
        # Signing in is refused as any wrong password is.
        r = browser.post(
            "/v1/auth/login",
            json={"tenant": people.tenant_a, "username": "张伟", "password": PASSWORDS["张伟"]},
        )
        assert r.status_code == 401
        r = httpx.post(f"{people.url}/v1/admin/users/{user}/enable", headers=admin)
        assert r.status_code in (200, 204)
        # Enabling does not bring the old session back.
        assert browser.get("/v1/me").status_code == 401
        people.sign_in(browser, "张伟")
        assert browser.get("/v1/me").json()["name"] == "张伟"


def test_a_new_password_ends_the_other_sessions(people: People) -> None:
    new = "a brand new passphrase, 很长"
    with people.browser() as laptop, people.browser() as phone:
        csrf = people.sign_in(laptop, "ann")
        people.sign_in(phone, "ann")
        change = {"current_password": "wrong guess!!", "new_password": new}
        r = laptop.post("/v1/me/password", json=change, headers={"X-CSRF-Token": csrf})
        assert r.status_code == 403
        for bad, reason in (("short", "12"), ("x" * 257, "256"), ("bad\x00password!", "NUL")):
            change = {"current_password": PASSWORDS["ann"], "new_password": bad}
            r = laptop.post("/v1/me/password", json=change, headers={"X-CSRF-Token": csrf})
            assert r.status_code == 400 and reason in r.json()["detail"], r.text
            assert bad not in r.text
        change = {"current_password": PASSWORDS["ann"], "new_password": new}
        r = laptop.post("/v1/me/password", json=change, headers={"X-CSRF-Token": csrf})
        assert r.status_code == 204, r.text
        assert laptop.get("/v1/me").status_code == 200  # this session stays
        assert phone.get("/v1/me").status_code == 401  # the other one ended
    with people.browser() as browser:
        old = {"tenant": people.tenant_a, "username": "ann", "password": PASSWORDS["ann"]}
        assert browser.post("/v1/auth/login", json=old).status_code == 401
        people.sign_in(browser, "ann", new)
    assert people.events("user.password", people.ids["ann"])
    PASSWORDS["ann"] = new


def test_unknown_users_and_wrong_passwords_get_the_same_answer(people: People) -> None:
    def attempt(tenant: str, username: str, password: str) -> httpx.Response:
        return httpx.post(
            people.url + "/v1/auth/login",
            json={"tenant": tenant, "username": username, "password": password},
            headers={"Origin": people.url},
        )

    answers = [
        attempt(people.tenant_a, "zed", "whatever it is!"),  # zed is in the other tenant
        attempt(people.tenant_a, "nobody-" + uuid.uuid4().hex[:6], "whatever it is!"),
        attempt("no such organisation", "carol", "whatever it is!"),
        attempt(people.tenant_a, "bob", "not bob's password"),
    ]
    shapes = {
        (r.status_code, r.text, r.headers.get("www-authenticate"), r.headers.get("set-cookie"))
        for r in answers
    }
    assert len(shapes) == 1 and answers[0].status_code == 401


def test_lockout_after_repeated_failures_then_open_again(people: People) -> None:
    account = {"tenant": people.tenant_b, "username": "zed"}
    with people.browser() as browser:
        for _ in range(LOCKOUT_FAILURES):
            r = browser.post("/v1/auth/login", json={**account, "password": "guess guess guess"})
            assert r.status_code == 401
        # Locked: even the right password is refused, with when to come back.
        r = browser.post("/v1/auth/login", json={**account, "password": PASSWORDS["zed"]})
        assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
        assert "zhiku_session" not in browser.cookies
        # Another account of the same address is not locked.
        people.sign_in(browser, "carol")
    assert len(people.events("auth.login_failed", people.ids["zed"])) >= LOCKOUT_FAILURES
    assert people.events("auth.locked", people.ids["zed"])
    # Let the lock run out, as the clock would: every attempt moved past the window.
    web = people.web
    lockout = timedelta(seconds=max(web.lockout_s, web.lockout_window_s) + 1)
    with transaction(people.sessions) as s:
        for row in s.query(SignInAttempt):
            row.created_at -= lockout
            if row.locked_until is not None:
                row.locked_until -= lockout
    with people.browser() as browser:
        people.sign_in(browser, "zed")


def test_chinese_names_and_passwords_work_and_nfkc_forgives_full_width(people: People) -> None:
    with people.browser() as browser:
        people.sign_in(browser, "张伟")
        assert browser.get("/v1/me").json()["name"] == "张伟"
    # The same password typed with a full-width IME for its Latin part still matches.
    with people.browser() as browser:
        csrf = people.sign_in(browser, "carol")
        change = {"current_password": PASSWORDS["carol"], "new_password": "密码Password123"}
        r = browser.post("/v1/me/password", json=change, headers={"X-CSRF-Token": csrf})
        assert r.status_code == 204
        PASSWORDS["carol"] = "密码Password123"
        people.sign_in(browser, "carol", "密码Ｐａｓｓｗｏｒｄ１２３")


def test_no_password_reaches_a_log_or_an_audit_event(
    people: People, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "canary-" + uuid.uuid4().hex
    with people.browser() as browser:
        # Typed into the username field by mistake, and as a wrong password.
        for username, password in ((secret, "x" * 12), ("bob", secret)):
            r = browser.post(
                "/v1/auth/login",
                json={"tenant": people.tenant_a, "username": username, "password": password},
            )
            assert r.status_code == 401
    assert secret not in caplog.text
    with transaction(people.sessions) as s:
        for event in s.query(AuditEvent).filter(AuditEvent.action.like("auth.%")):
            assert secret not in str(event.details) and secret not in event.target_id
        for row in s.query(SignInAttempt):
            assert secret not in row.account_hash


def test_a_cookie_is_checked_before_the_body_is_read(people: People) -> None:
    with people.browser() as browser:
        csrf = people.sign_in(browser, "carol")
        token = browser.cookies["zhiku_session"]
    port = people.url.rsplit(":", 1)[1]
    # A body is announced and never sent: only a server that does not read it answers.
    head = "POST /v1/search HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 100\r\n"
    head += "Content-Type: application/json\r\n{extra}\r\n"
    cases = {
        "401": f"Cookie: zhiku_session={'x' * 43}\r\nOrigin: {people.url}\r\n",
        "403": f"Cookie: zhiku_session={token}\r\nOrigin: {people.url}\r\n",  # no CSRF
        "403 ": f"Cookie: zhiku_session={token}\r\nX-CSRF-Token: {csrf}\r\n",  # no Origin
    }
    for status, extra in cases.items():
        answer = raw_request(int(port), head.format(port=port, extra=extra))
        assert answer.startswith(f"HTTP/1.1 {status.strip()}".encode()), answer[:300]


def test_one_address_is_limited_across_accounts(people: People) -> None:
    web = people.web
    with transaction(people.sessions) as s:
        already = web_sessions.address_failures_since(
            s, "127.0.0.1", utcnow() - timedelta(seconds=web.lockout_window_s)
        )
    saved = web.address_failures
    web.address_failures = already + 2
    try:
        with people.browser() as browser:
            for _ in range(2):
                guess = {"username": "u-" + uuid.uuid4().hex[:8], "password": "p" * 12}
                assert browser.post("/v1/auth/login", json=guess).status_code == 401
            r = browser.post(
                "/v1/auth/login",
                json={"tenant": people.tenant_a, "username": "bob", "password": PASSWORDS["bob"]},
            )
            assert r.status_code == 429 and int(r.headers["retry-after"]) > 0
    finally:
        web.address_failures = saved


def raw_request(port: int, head: str, timeout_s: float = 20) -> bytes:
    """Send only a request's head and read what comes back (EOF: the server closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as conn:
        conn.sendall(head.encode("latin-1"))
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
        return answer
