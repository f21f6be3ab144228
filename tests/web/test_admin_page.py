"""The admin console in a real browser (Chromium) against a real server on PostgreSQL, in
Chinese and English: an admin creates a user (named like an HTML injection) and a group, adds
the user to it, resets the password, creates a key (shown once) and revokes it, disables the
user; each takes effect over HTTP on the next request. Members are refused the console and
the API; the audit page lists the change; every page passes axe with no console error."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from api.web.messages import admin as admin_words
from api.web.messages import common
from services.schemas.admin import KeyCreate
from tests.live import ThreadServer
from tests.support import make_settings
from tests.web.browser import PASSWORD, add_people, assert_accessible, new_context, signed_in

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
HOSTILE = "<img src=x onerror=alert(1)>"
LANGUAGES = ["zh-CN", "en"]


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("admin-page"), database={"url": pg_url})
    with ThreadServer(settings) as srv:
        yield srv


def words(language: str) -> dict[str, str]:
    chinese = language == "zh-CN"
    return {
        **(common.CHINESE if chinese else common.ENGLISH),
        **(admin_words.CHINESE if chinese else admin_words.ENGLISH),
    }


def new_tenant(server: ThreadServer) -> str:
    name = f"组织-{uuid.uuid4().hex[:6]}"
    add_people(server, name, {"王芳": True, "bob": False})
    return name


def watch_alerts(page: Page) -> list[str]:
    """Any alert() a hostile name managed to run."""
    alerts: list[str] = []
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    return alerts


def row(page: Page, table: str, name: str):  # type: ignore[no-untyped-def]
    return page.locator(f"#{table} tbody tr").filter(
        has=page.get_by_role("rowheader", name=name, exact=True)
    )


def session_of(
    browser: Browser, server: ThreadServer, tenant: str, user: str, pw: str
) -> BrowserContext:
    return signed_in(browser, server.url, tenant, user, pw)


@pytest.mark.parametrize("language", LANGUAGES)
def test_an_admin_manages_users_groups_passwords_and_keys(
    browser: Browser, server: ThreadServer, language: str
) -> None:
    w = words(language)
    tenant = new_tenant(server)
    context = signed_in(browser, server.url, tenant, "王芳", language=language)
    page = context.new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    alerts = watch_alerts(page)
    page.goto("/admin")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "管理" if language == "zh-CN" else "Administration"
    )
    tabs = page.get_by_role("navigation", name=w["admin_sections"])
    expect(tabs.get_by_role("link", name=w["admin_users"])).to_have_attribute(
        "aria-current", "page"
    )
    expect(row(page, "users-table", "王芳")).to_be_visible()
    assert_accessible(page)

    # A user whose name is HTML: shown as text, never run.
    name = f"{HOSTILE}{language}"
    page.get_by_label(w["admin_user_name"], exact=True).fill(name)
    page.get_by_role("button", name=w["admin_user_create"]).click()
    expect(page.get_by_role("status")).to_have_text(w["admin_user_created"].format(name=name))
    expect(row(page, "users-table", name)).to_be_visible()
    assert page.locator("#users-table img").count() == 0
    user_id = row(page, "users-table", name).get_attribute("data-user")
    assert user_id

    # Search by name.
    page.get_by_label(w["admin_search_name"]).fill("onerror")
    page.get_by_role("button", name=w["admin_search"], exact=True).click()
    expect(page.locator("#users-table tbody tr")).to_have_count(1)

    # Reset the password: generated, shown once, signs in.
    row(page, "users-table", name).get_by_role("button", name=w["admin_password_reset"]).click()
    dialog = page.get_by_role("dialog", name=w["admin_password_title"].format(name=name))
    expect(dialog).to_be_visible()
    assert_accessible(page)
    dialog.get_by_label(w["admin_password_set"]).check()
    dialog.get_by_label(w["admin_password_new"]).fill(name)  # the username: refused
    dialog.get_by_role("button", name=w["admin_password_reset"]).click()
    expect(dialog.get_by_role("alert")).to_have_text(w["admin_password_is_name"])
    dialog.get_by_label(w["admin_password_generate"]).check()
    dialog.get_by_role("button", name=w["admin_password_reset"]).click()
    secret = page.get_by_role("dialog", name=w["admin_password_generated"].format(name=name))
    expect(secret).to_be_visible()
    password = secret.get_by_label(w["admin_password_new"]).input_value()
    assert len(password) >= 12
    secret.get_by_role("button", name=w["admin_done"]).click()
    expect(secret).to_be_hidden()
    assert password not in page.content()
    user_session = session_of(browser, server, tenant, name, password)
    assert user_session.request.get("/v1/me").status == 200

    # A group, and the user added to it by name.
    page.get_by_role("link", name=w["admin_groups"], exact=True).click()
    group = f"研发组 {HOSTILE} {language}"
    page.get_by_label(w["admin_group_name"]).fill(group)
    page.get_by_role("button", name=w["admin_group_create"]).click()
    row(page, "groups-table", group).get_by_role("button", name=w["admin_members_manage"]).click()
    panel = page.locator("#members-panel")
    expect(panel).to_be_focused()
    panel.get_by_label(w["admin_member_find"]).fill("img")
    panel.get_by_role("button", name=w["admin_search"], exact=True).click()
    panel.get_by_role("listitem").filter(has_text=name).get_by_role(
        "button", name=w["admin_member_add"]
    ).click()
    expect(row(page, "members-table", name)).to_be_visible()
    expect(row(page, "groups-table", group).locator("td").first).to_have_text("1")
    assert page.locator("img").count() == 0
    assert_accessible(page)
    me = user_session.request.get("/v1/me").json()
    assert len(me["group_ids"]) == 1

    # A key: the form sends scope and origins; shown once; works; revoked, it stops.
    page.goto(f"/admin/keys?user={user_id}")
    keys = page.locator("#keys-panel")
    expect(keys.get_by_role("heading", level=2)).to_have_text(w["admin_keys_of"].format(name=name))
    keys.get_by_label(w["admin_key_name"], exact=True).fill("集成 key")
    keys.get_by_label(w["admin_key_days"]).fill("30")
    expect(keys.get_by_label(w["admin_key_scope"])).to_have_value("full")
    with page.expect_request(
        lambda r: r.method == "POST" and r.url.endswith(f"/v1/admin/users/{user_id}/keys")
    ) as sent:
        keys.get_by_role("button", name=w["admin_key_create"]).click()
    body = sent.value.post_data_json
    assert body["scope"] == "full" and body["allowed_origins"] == [] and body["name"] == "集成 key"
    secret = page.get_by_role("dialog", name=w["admin_key_issued"].format(name="集成 key"))
    expect(secret).to_be_visible()
    expect(secret.get_by_text(w["admin_shown_once"])).to_be_visible()
    key = secret.get_by_label(w["admin_key_value"]).input_value()
    assert key.startswith("zk_")
    secret.get_by_role("button", name=w["admin_copy"]).click()
    expect(secret.get_by_role("status")).not_to_have_text("")
    secret.get_by_role("button", name=w["admin_done"]).click()
    key_row = row(page, "keys-table", "集成 key")
    expect(key_row.locator("td").nth(1)).to_have_text(w["admin_scope_full"])
    expect(key_row.locator("td").nth(2)).to_have_text(w["admin_origins_any"])
    assert key not in page.content()
    page.reload()
    expect(row(page, "keys-table", "集成 key")).to_be_visible()
    assert key not in page.content()
    assert_accessible(page)
    bearer = {"Authorization": f"Bearer {key}"}
    assert context.request.get("/v1/me", headers=bearer).status == 200
    # Revoking asks first (a <dialog>, focus on Cancel; Escape cancels, focus returns).
    revoke = row(page, "keys-table", "集成 key").get_by_role("button", name=w["admin_key_revoke"])
    revoke.focus()
    page.keyboard.press("Enter")
    confirm = page.locator("#confirm-dialog")
    expect(confirm).to_be_visible()
    expect(confirm.get_by_role("button", name=w["admin_cancel"])).to_be_focused()
    page.keyboard.press("Escape")
    expect(confirm).to_be_hidden()
    expect(revoke).to_be_focused()
    assert context.request.get("/v1/me", headers=bearer).status == 200
    revoke.click()
    confirm.get_by_role("button", name=w["admin_key_revoke"]).click()
    expect(page.get_by_role("status")).to_have_text(
        w["admin_key_revoked_done"].format(name="集成 key")
    )
    assert context.request.get("/v1/me", headers=bearer).status == 401

    # A narrower scope: taken when the API knows scopes, else refused, never widened.
    keys.get_by_label(w["admin_key_name"], exact=True).fill("widget")
    keys.get_by_label(w["admin_key_scope"]).select_option("chat")
    keys.get_by_label(w["admin_key_origins"]).fill("https://intranet.example.com/")
    with page.expect_request(lambda r: r.method == "POST" and "/keys" in r.url) as sent:
        keys.get_by_role("button", name=w["admin_key_create"]).click()
    body = sent.value.post_data_json
    assert body["scope"] == "chat"
    assert body["allowed_origins"] == ["https://intranet.example.com"]
    if "scope" in KeyCreate.model_fields:
        page.get_by_role("dialog").get_by_role("button", name=w["admin_done"]).click()
        widget = row(page, "keys-table", "widget")
        expect(widget.locator("td").nth(1)).to_have_text(w["admin_scope_chat"])
        expect(widget.locator("td").nth(2)).to_have_text("https://intranet.example.com")
    else:
        expect(page.get_by_role("alert")).to_contain_text(w["admin_key_scope_unsupported"])
        expect(row(page, "keys-table", "widget")).to_have_count(0)

    # Disabling asks first; the user's session is refused on its next request.
    page.goto("/admin")
    row(page, "users-table", name).get_by_role("button", name=w["admin_disable"]).click()
    expect(page.locator("#confirm-text")).to_have_text(w["admin_disable_confirm"].format(name=name))
    page.locator("#confirm-dialog").get_by_role("button", name=w["admin_disable"]).click()
    expect(row(page, "users-table", name).get_by_text(w["admin_disabled"])).to_be_visible()
    assert user_session.request.get("/v1/me").status == 401
    user_session.close()

    # The audit trail lists the access change, filtered by kind and date.
    page.get_by_role("link", name=w["admin_audit"]).click()
    page.get_by_label(w["admin_event_kind"]).select_option("group.member.add")
    page.get_by_label(w["admin_from"]).fill(
        page.evaluate("new Date(Date.now() - 864e5).toLocaleDateString('sv')")
    )
    page.get_by_role("button", name=w["admin_filter"]).click()
    events = page.locator("#events-table tbody tr")
    expect(events).to_have_count(1)
    expect(events.first).to_contain_text("group.member.add")
    expect(events.first).to_contain_text("王芳")
    expect(page.locator("#answers-note")).to_have_text(w["admin_answers_redacted"])
    assert_accessible(page)

    page.get_by_role("link", name=w["admin_organisation"]).click()
    expect(page.locator('[data-fact="name"]')).to_have_text(tenant)
    expect(page.locator('[data-fact="users"]')).to_have_text("3")
    expect(page.locator('[data-fact="groups"]')).to_have_text("1")
    assert_accessible(page)

    # The screenshot, and the same page on a phone: nothing wider than the screen.
    page.goto("/admin")
    expect(row(page, "users-table", name)).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"admin-{language}.png"))
    page.set_viewport_size({"width": 390, "height": 844})
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1
    assert_accessible(page)
    assert alerts == []
    # The one refusal asked for (the password that was the username) shows as a failed
    # load; nothing else.
    errors = context.console_errors  # type: ignore[attr-defined]
    assert len(errors) == 1 and "status of 400" in errors[0], errors
    context.close()


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_member_is_refused_the_console_and_the_api(
    browser: Browser, server: ThreadServer, language: str
) -> None:
    w = words(language)
    tenant = new_tenant(server)
    context = signed_in(browser, server.url, tenant, "bob", PASSWORD, language)
    page = context.new_page()
    for path in ("/admin", "/admin/groups", "/admin/keys", "/admin/audit", "/admin/organisation"):
        response = page.goto(path)
        assert response is not None and response.status == 403, path
        expect(page.get_by_role("alert")).to_have_text(w["not_allowed"])
    assert_accessible(page)
    for path in (
        "/v1/admin/users",
        "/v1/admin/tenant",
        "/v1/admin/tenant/settings",
        "/v1/audit/events",
        "/v1/audit/answers",
    ):
        assert context.request.get(path).status == 403, path
    me = context.request.get("/v1/me").json()
    csrf = page.locator('meta[name="csrf-token"]').get_attribute("content") or ""
    reset = context.request.post(
        f"/v1/admin/users/{me['id']}/password",
        headers={"X-CSRF-Token": csrf, "Origin": server.url},
        data={},
    )
    assert reset.status == 403
    anonymous = new_context(browser, server.url, language)
    response = anonymous.new_page().goto("/admin")
    assert response is not None and re.search(r"/login$", response.url)
    # The browser reports each refused page (403) as a failed load; nothing else.
    errors = context.console_errors  # type: ignore[attr-defined]
    assert len(errors) == 5 and all("status of 403" in e for e in errors), errors
    context.close()
    anonymous.close()
