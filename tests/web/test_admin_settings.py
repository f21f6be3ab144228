"""The organisation's settings in the admin console, in a real browser (Chromium) against a
real server on PostgreSQL, in Chinese and English: an admin sets a display name, makes new
uploads readable by everyone and picks the pages' language; the header shows the name, a
member's documents page starts with "everyone" chosen and reads in the chosen language, and
the member's upload is readable by a colleague. Axe finds nothing serious; no console error."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from api.web.messages import admin as admin_words
from tests.live import ThreadServer
from tests.support import make_settings
from tests.web.browser import add_people, assert_accessible, signed_in

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
PROCESSING_MS = 180_000


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("admin-settings"), database={"url": pg_url})
    with ThreadServer(settings) as srv:
        yield srv


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_an_admin_sets_the_organisations_settings_and_members_follow_them(
    browser: Browser, server: ThreadServer, language: str
) -> None:
    w = admin_words.CHINESE if language == "zh-CN" else admin_words.ENGLISH
    other = "en" if language == "zh-CN" else "zh-CN"
    tenant = f"设置-{uuid.uuid4().hex[:6]}"
    add_people(server, tenant, {"王芳": True, "bob": False, "carol": False})
    display = "华东研发中心 <b>R&D</b>"
    admin = signed_in(browser, server.url, tenant, "王芳", language=language)
    page = admin.new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto("/admin/organisation")
    expect(page.locator(".org-name")).to_have_text(tenant)  # no display name yet
    name = page.get_by_label(w["admin_settings_display_name"])
    expect(name).to_have_value("")
    expect(page.get_by_label(w["admin_settings_access_owner"])).to_be_checked()
    expect(page.get_by_label(w["admin_settings_language"])).to_have_value("")
    assert_accessible(page)

    name.fill(display)
    page.get_by_label(w["admin_settings_access_everyone"]).check()
    page.get_by_label(w["admin_settings_language"]).select_option(other)
    with page.expect_response("**/v1/admin/tenant/settings") as saved:
        page.get_by_role("button", name=w["admin_settings_save"]).click()
    assert saved.value.status == 200
    expect(page.get_by_role("status")).to_have_text(w["admin_settings_saved"])
    # The admin picked this page's language with the browser: the organisation's default
    # is for those who have not; reloaded, the form shows what was stored.
    page.reload()
    expect(page.locator("html")).to_have_attribute("lang", other)
    page.goto(f"/admin/organisation?lang={language}")
    expect(page.locator(".org-name")).to_have_text(display)  # text, never markup
    assert page.locator("header b").count() == 0
    expect(page.get_by_label(w["admin_settings_display_name"])).to_have_value(display)
    expect(page.get_by_label(w["admin_settings_access_everyone"])).to_be_checked()
    expect(page.get_by_label(w["admin_settings_language"])).to_have_value(other)
    expect(page.locator("#settings-updated")).not_to_be_empty()
    assert_accessible(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"admin-settings-{language}.png"))

    # A bad value is refused with the reason in the page's language.
    name.fill("x" * 300)
    name.evaluate("(box) => box.removeAttribute('maxlength')")
    name.fill("x" * 300)
    page.get_by_role("button", name=w["admin_settings_save"]).click()
    expected = "display_name: 最多 200 个字符" if language == "zh-CN" else "display_name: String"
    expect(page.get_by_role("alert")).to_contain_text(expected)

    # The audit trail names the change, before and after.
    events = admin.request.get("/v1/audit/events").json()["data"]
    change = next(e for e in events if e["action"] == "tenant.settings")
    assert change["details"]["changed"]["default_access"] == {
        "before": "owner",
        "after": "everyone",
    }

    # A member who has not picked a language reads the organisation's; their upload starts
    # with "everyone" chosen, and a colleague can read it.
    member = signed_in(browser, server.url, tenant, "bob", language=language)
    docs = member.new_page()
    docs.goto("/documents")
    expect(docs.locator("html")).to_have_attribute("lang", other)
    expect(docs.locator(".org-name")).to_have_text(display)
    expect(docs.locator("#upload-access")).to_have_value("everyone")
    docs.locator("#file-input").set_input_files(
        [
            {
                "name": "共享-notes.txt",
                "mimeType": "text/plain",
                "buffer": "全员可读的通知。".encode(),
            }
        ]
    )
    item = docs.locator("#upload-list li", has_text="共享-notes.txt")
    expect(item.locator(".badge")).to_be_visible(timeout=PROCESSING_MS)
    assert_accessible(docs)
    colleague = signed_in(browser, server.url, tenant, "carol", language=language)
    listed = colleague.request.get("/v1/documents").json()["data"]
    assert [d["filename"] for d in listed] == ["共享-notes.txt"]
    # "Only me" chosen on the page is kept, whatever the organisation's default.
    docs.locator("#upload-access").select_option("me")
    docs.locator("#file-input").set_input_files(
        [{"name": "private.txt", "mimeType": "text/plain", "buffer": b"Only bob reads this."}]
    )
    mine = docs.locator("#upload-list li", has_text="private.txt")
    expect(mine.locator(".badge")).to_be_visible(timeout=PROCESSING_MS)
    listed = colleague.request.get("/v1/documents").json()["data"]
    assert [d["filename"] for d in listed] == ["共享-notes.txt"]

    # One console error: the refused (422) save above.
    errors = admin.console_errors  # type: ignore[attr-defined]
    assert len(errors) == 1 and "status of 422" in errors[0], errors
    assert member.console_errors == []  # type: ignore[attr-defined]
    for context in (admin, member, colleague):
        context.close()
