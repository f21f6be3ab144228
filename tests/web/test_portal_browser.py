"""The portal's frame in a real browser (Chromium): sign in through the form, the pages'
navigation, the language switch, no console errors (CSP refusals included), accessibility."""

from __future__ import annotations

import uuid

import pytest
from playwright.sync_api import Browser, expect

from tests.live import ThreadServer
from tests.support import make_settings
from tests.web.browser import PASSWORD, add_people, assert_accessible, new_context


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("portal"), database={"url": pg_url})
    with ThreadServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def tenant(server: ThreadServer) -> str:
    name = f"研发部-{uuid.uuid4().hex[:6]}"
    add_people(server, name, {"王芳": True, "bob": False})
    return name


@pytest.mark.parametrize(
    ("language", "button", "documents", "admin"),
    [("zh-CN", "登录", "文档", "管理"), ("en", "Sign in", "Documents", "Administration")],
)
def test_a_person_signs_in_through_the_form_and_finds_the_pages(
    browser: Browser,
    server: ThreadServer,
    tenant: str,
    language: str,
    button: str,
    documents: str,
    admin: str,
) -> None:
    context = new_context(browser, server.url, language)
    page = context.new_page()
    page.goto("/")
    expect(page).to_have_url(server.url + "/login")
    assert_accessible(page)
    page.get_by_label("组织" if language == "zh-CN" else "Organisation").fill(tenant)
    page.get_by_label("用户名" if language == "zh-CN" else "Username").fill("王芳")
    page.get_by_label("密码" if language == "zh-CN" else "Password").fill(PASSWORD)
    page.get_by_role("button", name=button).click()
    expect(page).to_have_url(server.url + "/")
    nav = page.get_by_role("navigation", name="主导航" if language == "zh-CN" else "Main")
    expect(nav.get_by_role("link", name=documents)).to_be_visible()
    expect(nav.get_by_role("link", name=admin)).to_be_visible()  # 王芳 is an administrator
    assert_accessible(page)
    assert context.console_errors == []  # type: ignore[attr-defined]
    context.close()


def test_a_member_sees_no_admin_link_and_the_switch_changes_language(
    browser: Browser, server: ThreadServer, tenant: str
) -> None:
    context = new_context(browser, server.url, "en")
    page = context.new_page()
    page.goto("/login")
    page.get_by_label("Organisation").fill(tenant)
    page.get_by_label("Username").fill("bob")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Documents")).to_be_visible()
    expect(nav.get_by_role("link", name="Administration")).to_have_count(0)
    page.get_by_role("link", name="中文").click()
    expect(
        page.get_by_role("navigation", name="主导航").get_by_role("link", name="问答")
    ).to_be_visible()
    page.reload()  # the choice is remembered
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    page.get_by_role("button", name="退出登录").click()
    expect(page).to_have_url(server.url + "/login?signed_out=1")
    assert context.console_errors == []  # type: ignore[attr-defined]
    context.close()
