"""Single sign-on against a real OpenID Connect provider (``oidc-provider`` on loopback), in a
real browser: the code flow with PKCE, people mapped by e-mail, and every refusal shown as a
plain message on the sign-in page, in Chinese and English."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect
from sqlalchemy import select

from core.db import identity
from core.db import keys as key_queries
from core.db import oidc as oidc_store
from core.db.models import AuditEvent, OidcIdentity, User
from core.db.session import transaction
from services.oidc import OidcService
from services.sign_in import SignedIn
from tests.live import ThreadServer, free_port
from tests.support import make_settings
from tests.web.browser import assert_accessible, new_context
from tests.web.oidc_provider import CLIENT_ID, CLIENT_SECRET, Account, provider

PROVIDER_NAME = "Example SSO"
TENANT = f"sso-{uuid.uuid4().hex[:6]}"
# Logins at the provider, and who they are there.
ACCOUNTS = {
    "wang": Account(sub="sub-wang-0001", email="wang.fang@example.cn"),
    "bob": Account(sub="sub-bob-0002", email="bob@example.com"),
    "stranger": Account(sub="sub-stranger-0003", email="stranger@example.org"),
    "disabled": Account(sub="sub-li-0004", email="li.na@example.cn"),
    "unverified": Account(sub="sub-zhao-0005", email="zhao@example.cn", email_verified=False),
    # The address of bob, handed to another account at the provider.
    "impostor": Account(sub="sub-someone-else-0006", email="BOB@example.com"),
}


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory) -> Iterator[ThreadServer]:  # type: ignore[no-untyped-def]
    port = free_port()
    settings = make_settings(
        tmp_path_factory.mktemp("sso"),
        database={"url": pg_url},
        oidc={
            "issuer": f"http://127.0.0.1:{port}",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "provider_name": PROVIDER_NAME,
            "tenant": TENANT,
        },
    )
    with ThreadServer(settings) as srv:
        with transaction(srv.container.sessions) as s:
            tenant_id = identity.create_tenant(s, TENANT).id
            # Stored with capitals: the provider's lower-case address still finds them.
            identity.create_user(s, tenant_id, "王芳", email="Wang.Fang@Example.cn", is_admin=True)
            identity.create_user(s, tenant_id, "bob", email="bob@example.com")
            li = identity.create_user(s, tenant_id, "李娜", email="li.na@example.cn")
            identity.create_user(s, tenant_id, "zhao", email="zhao@example.cn")
            identity.set_disabled(s, li, True, actor_id=None)
        log = tmp_path_factory.mktemp("provider") / "provider.log"
        with provider(port, srv.url + "/login/oidc/callback", ACCOUNTS, log):
            yield srv


def sign_in_at_provider(page: Page, login: str) -> None:
    """The provider's development login form (any password), then its consent page."""
    page.locator("input[name=login]").fill(login)
    page.locator("input[name=password]").fill("any password")
    page.locator("button[type=submit]").click()
    page.locator("button[type=submit]").click()  # consent: "Continue"


def start(browser: Browser, server: ThreadServer, language: str) -> tuple[BrowserContext, Page]:
    context = new_context(browser, server.url, language)
    page = context.new_page()
    # Errors printed on our pages (a CSP refusal…); the provider's development pages fetch
    # fonts from the internet, which this closed network refuses: not ours to judge.
    ours: list[str] = []
    page.on(
        "console",
        lambda m: (
            ours.append(m.text) if m.type == "error" and page.url.startswith(server.url) else None
        ),
    )
    context.our_errors = ours  # type: ignore[attr-defined]
    page.goto("/login")
    words = "使用 Example SSO 登录" if language == "zh-CN" else "Sign in with Example SSO"
    page.get_by_role("link", name=words).click()
    return context, page


def events(server: ThreadServer, action: str) -> list[AuditEvent]:
    with transaction(server.container.sessions) as s:
        return list(s.scalars(select(AuditEvent).where(AuditEvent.action == action)))


@pytest.mark.parametrize(
    ("language", "who"), [("zh-CN", "当前用户：王芳"), ("en", "Signed in as 王芳")]
)
def test_a_person_signs_in_through_the_provider_and_lands_signed_in(
    browser: Browser, server: ThreadServer, language: str, who: str
) -> None:
    context, page = start(browser, server, language)
    expect(page.get_by_role("heading", name="Sign-in")).to_be_visible()  # at the provider
    assert page.url.startswith(server.container.settings.oidc.issuer + "/interaction/")
    sign_in_at_provider(page, "wang")
    expect(page).to_have_url(server.url + "/")
    expect(page.get_by_role("heading", name=who)).to_be_visible()
    assert_accessible(page)
    # The same session as a password sign-in: the JSON API knows the caller.
    me = context.request.get("/v1/auth/session")
    assert me.ok and me.json()["user"]["name"] == "王芳"
    cookies = {c["name"]: c for c in context.cookies(server.url)}
    assert cookies["zhiku_session"]["httpOnly"] and cookies["zhiku_session"]["sameSite"] == "Lax"
    callback = context.cookies(server.url + "/login/oidc/callback")
    assert "zhiku_oidc_flow" not in {c["name"] for c in callback}  # one use only
    with transaction(server.container.sessions) as s:
        # By id: other tests' tenants in this database have a 王芳 too.
        user = s.get(User, me.json()["user"]["id"])
        assert user is not None
        linked = s.scalar(select(OidcIdentity).where(OidcIdentity.user_id == user.id))
        assert linked is not None and linked.subject == "sub-wang-0001"
    assert any(e.actor_id == user.id for e in events(server, "auth.login"))
    assert [e.actor_id for e in events(server, "user.oidc_link")].count(user.id) == 1
    assert context.our_errors == []  # type: ignore[attr-defined]
    context.close()


def test_the_flow_starts_at_the_provider_with_pkce_and_a_bound_state(
    browser: Browser, server: ThreadServer
) -> None:
    context = new_context(browser, server.url, "en")
    response = context.request.get("/login/oidc", max_redirects=0)
    assert response.status == 303
    query = dict(parse_qsl(urlsplit(response.headers["location"]).query))
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
    assert query["client_id"] == CLIENT_ID and query["response_type"] == "code"
    assert query["redirect_uri"] == server.url + "/login/oidc/callback"
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32
    jar = context.cookies(server.url + "/login/oidc/callback")
    cookie = next(c for c in jar if c["name"] == "zhiku_oidc_flow")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/login/oidc"
    assert query["state"] not in cookie["value"]  # sealed, not readable as is
    context.close()


@pytest.mark.parametrize(
    ("language", "message"),
    [
        ("zh-CN", "这里没有使用您电子邮件地址的账户"),
        ("en", "No account here uses your e-mail address"),
    ],
)
def test_an_unknown_email_is_refused_with_a_message(
    browser: Browser, server: ThreadServer, language: str, message: str
) -> None:
    context, page = start(browser, server, language)
    sign_in_at_provider(page, "stranger")
    expect(page.get_by_role("alert")).to_contain_text(message)
    assert "/login/oidc/callback" in page.url
    assert context.request.get("/v1/auth/session").status == 401  # nobody signed in
    assert_accessible(page)
    # Only the page's own 401 (a refusal is one): no CSP refusal, no script error.
    errors = context.our_errors  # type: ignore[attr-defined]
    assert [e for e in errors if "status of 401" not in e] == []
    refusals = [e.details for e in events(server, "auth.login_failed")]
    assert {"reason": "unknown_user", "method": "oidc"}.items() <= refusals[-1].items()
    assert "stranger@example.org" not in str(refusals)  # the address is not written down
    context.close()


@pytest.mark.parametrize(
    ("language", "message"),
    [("zh-CN", "该登录链接已过期"), ("en", "That sign-in link has expired")],
)
def test_a_tampered_state_is_refused(
    browser: Browser, server: ThreadServer, language: str, message: str
) -> None:
    """The state the provider hands back is not the one this browser's flow holds (changed
    on its way: our redirect to the provider is rewritten in flight)."""
    context = new_context(browser, server.url, language)
    page = context.new_page()

    def tamper(route: Route) -> None:
        response = route.fetch(max_redirects=0)
        parts = urlsplit(response.headers["location"])
        query = dict(parse_qsl(parts.query))
        state = query["state"]
        # Change the first character to one it is not (a fixed "x" left 1 state in 64 intact).
        query["state"] = ("y" if state[0] == "x" else "x") + state[1:]
        location = urlunsplit(parts._replace(query=urlencode(query)))
        route.fulfill(response=response, headers={**response.headers, "location": location})

    page.route("**/login/oidc", tamper)
    page.goto("/login/oidc")
    jar = context.cookies(server.url + "/login/oidc/callback")
    assert "zhiku_oidc_flow" in {c["name"] for c in jar}  # the flow is there; its state differs
    sign_in_at_provider(page, "bob")
    expect(page.get_by_role("alert")).to_contain_text(message)
    assert context.request.get("/v1/auth/session").status == 401
    context.close()


def test_a_callback_without_the_browsers_flow_is_refused(
    browser: Browser, server: ThreadServer
) -> None:
    """A code sent to another browser (a login CSRF): no flow cookie, no sign-in."""
    context = new_context(browser, server.url, "en")
    page = context.new_page()
    page.goto("/login/oidc/callback?code=stolen&state=whatever")
    expect(page.get_by_role("alert")).to_contain_text("That sign-in link has expired")
    assert context.request.get("/v1/auth/session").status == 401
    context.close()


@pytest.mark.parametrize(
    ("login", "language", "message"),
    [
        ("disabled", "zh-CN", "您的账户已被停用"),
        ("disabled", "en", "Your account is disabled"),
        ("unverified", "en", "Your e-mail address is not verified"),
        ("unverified", "zh-CN", "您的电子邮件地址在登录服务中尚未验证"),
    ],
)
def test_disabled_and_unverified_people_are_refused(
    browser: Browser, server: ThreadServer, login: str, language: str, message: str
) -> None:
    context, page = start(browser, server, language)
    sign_in_at_provider(page, login)
    expect(page.get_by_role("alert")).to_contain_text(message)
    assert context.request.get("/v1/auth/session").status == 401
    context.close()


def test_an_email_moved_to_another_subject_is_refused(
    browser: Browser, server: ThreadServer
) -> None:
    """bob signs in (his sub is recorded); the provider then hands his address to another
    account: that account does not open bob's."""
    context, page = start(browser, server, "en")
    sign_in_at_provider(page, "bob")
    expect(page).to_have_url(server.url + "/")
    context.close()
    for language, message in (("en", "belongs to a different account"), ("zh-CN", "另一个账户")):
        context, page = start(browser, server, language)
        sign_in_at_provider(page, "impostor")
        expect(page.get_by_role("alert")).to_contain_text(message)
        assert context.request.get("/v1/auth/session").status == 401
        context.close()


def test_the_sign_in_page_offers_no_link_without_single_sign_on(
    browser: Browser, pg_url, tmp_path_factory
) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("no-sso"), database={"url": pg_url})
    with ThreadServer(settings) as srv:
        context = new_context(browser, srv.url, "en")
        page = context.new_page()
        page.goto("/login")
        expect(page.get_by_role("button", name="Sign in")).to_be_visible()
        expect(page.get_by_role("link", name="Sign in with")).to_have_count(0)
        page.goto("/login/oidc")
        expect(page.get_by_role("alert")).to_contain_text("Single sign-on is not set up")
        context.close()


def test_people_may_be_created_at_first_sign_in_when_the_setting_allows(
    server: ThreadServer,
) -> None:
    """``oidc.create_users``: a verified address nobody has becomes a member (no roles, no
    groups); an unverified one only with ``allow_unverified_email``."""
    container = server.container
    settings = container.settings.oidc.model_copy(update={"create_users": True})
    service = OidcService(
        container.sessions,
        settings,
        default_tenant="default",
        secret_key=container.settings.secret_key,
        sign_in=container.services.sign_in,
    )
    claims = {"sub": "sub-new-0100", "email": "Xin.Ren@example.cn", "email_verified": True}
    with transaction(container.sessions) as s:
        signed = service._sign_in_person(s, claims, ip="127.0.0.1", user_agent="test")
    assert isinstance(signed, SignedIn)
    assert signed.session.user.name == "Xin.Ren@example.cn" and not signed.session.user.is_admin
    with transaction(container.sessions) as s:
        again = service._sign_in_person(s, claims, ip="127.0.0.1", user_agent="test")
    assert isinstance(again, SignedIn) and again.session.user.id == signed.session.user.id
    unverified = {"sub": "sub-new-0101", "email": "wu@example.cn", "email_verified": False}
    with transaction(container.sessions) as s:
        refused = service._sign_in_person(s, unverified, ip="", user_agent="")
    assert not isinstance(refused, SignedIn) and refused.error.reason == "unverified_email"
    lenient = OidcService(
        container.sessions,
        settings.model_copy(update={"allow_unverified_email": True}),
        default_tenant="default",
        secret_key=container.settings.secret_key,
        sign_in=container.services.sign_in,
    )
    with transaction(container.sessions) as s:
        assert isinstance(lenient._sign_in_person(s, unverified, ip="", user_agent=""), SignedIn)


def test_admins_set_unique_emails_through_the_api(server: ThreadServer) -> None:
    container = server.container
    with transaction(container.sessions) as s:
        tenant = identity.get_tenant_by_name(s, TENANT)
        admin = identity.get_user_by_name(s, tenant.id, "王芳")
        key = key_queries.issue_api_key(s, admin, container.settings.secret_key).plaintext
        zhao = identity.get_user_by_name(s, tenant.id, "zhao")
        oidc_store.link(s, zhao, container.settings.oidc.issuer, "sub-zhao-old")
    with httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {key}"}) as api:
        taken = api.post("/v1/admin/users", json={"name": "dup", "email": "BOB@Example.COM"})
        assert taken.status_code == 409
        made = api.post("/v1/admin/users", json={"name": "孙丽", "email": "sun.li@example.cn"})
        assert made.status_code == 201 and made.json()["email"] == "sun.li@example.cn"
        path = f"/v1/admin/users/{zhao.id}/email"
        assert api.put(path, json={"email": "wang.fang@EXAMPLE.cn"}).status_code == 409
        assert api.put(path, json={"email": "not an address"}).status_code in (400, 422)
        assert api.put(path, json={"email": "a" * 400 + "@example.cn"}).status_code in (400, 422)
        changed = api.put(path, json={"email": "zhao.lei@example.cn"})
        assert changed.status_code == 200 and changed.json()["email"] == "zhao.lei@example.cn"
        assert api.put(path, json={"email": None}).json()["email"] is None
        assert "/users/{user_id}/email" in api.get("/openapi.json").json()["paths"].__repr__()
    with transaction(container.sessions) as s:  # the old mapping is forgotten with the address
        assert oidc_store.identity_of_user(s, zhao, container.settings.oidc.issuer) is None


@pytest.mark.parametrize(
    ("language", "message"),
    [("zh-CN", "无法连接登录服务"), ("en", "The sign-in service could not be reached")],
)
def test_a_provider_that_is_down_gives_a_message_not_an_error(
    browser: Browser, down_server: ThreadServer, language: str, message: str
) -> None:
    context = new_context(browser, down_server.url, language)
    page = context.new_page()
    page.goto("/login")
    words = "使用 Example SSO 登录" if language == "zh-CN" else "Sign in with Example SSO"
    page.get_by_role("link", name=words).click()
    expect(page.get_by_role("alert")).to_contain_text(message)
    assert "Traceback" not in page.content()
    context.close()


@pytest.fixture(scope="module")
def down_server(pg_url, tmp_path_factory) -> Iterator[ThreadServer]:  # type: ignore[no-untyped-def]
    settings = make_settings(
        tmp_path_factory.mktemp("sso-down"),
        database={"url": pg_url},
        oidc={
            "issuer": f"http://127.0.0.1:{free_port()}",  # nothing listens there
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "provider_name": PROVIDER_NAME,
            "timeout_s": 2,
        },
    )
    with ThreadServer(settings) as srv:
        yield srv
