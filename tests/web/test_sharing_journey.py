"""One journey across the portal, as an organisation lives it, in a real browser: an
administrator creates a colleague and a group in the admin console, puts the colleague in the
group, uploads a document on the documents page and shares it with the group by name; the
colleague signs in with the password the console generated and finds the document in the list
and in search, while someone outside the group does not."""

from __future__ import annotations

import uuid

from playwright.sync_api import Browser, expect

from api.web.messages import admin as admin_words
from api.web.messages import common
from tests.live import ThreadServer
from tests.support import make_settings
from tests.web.browser import add_people, assert_accessible, new_context, signed_in

W = {**common.CHINESE, **admin_words.CHINESE}
PROCESSING_MS = 180_000
NEWCOMER = "新同事"
GROUP = "财务部"
POLICY = "差旅报销标准：出差住宿每晚不超过五百元，须提前在系统中提交申请。"


def test_a_group_share_reaches_a_new_colleague(browser: Browser, pg_url, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path, database={"url": pg_url})
    with ThreadServer(settings) as server:
        tenant = f"集团-{uuid.uuid4().hex[:6]}"
        add_people(server, tenant, {"王芳": True, "outsider": False})
        admin = signed_in(browser, server.url, tenant, "王芳", language="zh-CN")
        page = admin.new_page()

        # The admin console: a colleague with a generated password, a group, the membership.
        page.goto("/admin")
        page.get_by_label(W["admin_user_name"], exact=True).fill(NEWCOMER)
        page.get_by_role("button", name=W["admin_user_create"]).click()
        expect(page.get_by_role("status")).to_have_text(
            W["admin_user_created"].format(name=NEWCOMER)
        )
        users = page.locator("#users-table tbody tr").filter(
            has=page.get_by_role("rowheader", name=NEWCOMER, exact=True)
        )
        users.get_by_role("button", name=W["admin_password_reset"]).click()
        dialog = page.get_by_role("dialog", name=W["admin_password_title"].format(name=NEWCOMER))
        dialog.get_by_label(W["admin_password_generate"]).check()
        dialog.get_by_role("button", name=W["admin_password_reset"]).click()
        shown = page.get_by_role("dialog", name=W["admin_password_generated"].format(name=NEWCOMER))
        password = shown.get_by_label(W["admin_password_new"]).input_value()
        shown.get_by_role("button", name=W["admin_done"]).click()

        page.get_by_role("link", name=W["admin_groups"], exact=True).click()
        page.get_by_label(W["admin_group_name"]).fill(GROUP)
        page.get_by_role("button", name=W["admin_group_create"]).click()
        groups = page.locator("#groups-table tbody tr").filter(
            has=page.get_by_role("rowheader", name=GROUP, exact=True)
        )
        groups.get_by_role("button", name=W["admin_members_manage"]).click()
        panel = page.locator("#members-panel")
        panel.get_by_label(W["admin_member_find"]).fill("同事")
        panel.get_by_role("button", name=W["admin_search"], exact=True).click()
        panel.get_by_role("listitem").filter(has_text=NEWCOMER).get_by_role(
            "button", name=W["admin_member_add"]
        ).click()
        expect(groups.locator("td").first).to_have_text("1")

        # The documents page: upload, wait until ready, share with the group by its name.
        page.goto("/documents")
        page.locator("#file-input").set_input_files(
            [{"name": "差旅制度.txt", "mimeType": "text/plain", "buffer": POLICY.encode()}]
        )
        row = page.locator("#doc-rows tr").filter(
            has=page.locator(".filename", has_text="差旅制度.txt")
        )
        expect(row.locator(".badge")).to_have_text("已就绪", timeout=PROCESSING_MS)
        row.get_by_role("button", name="权限").click()
        access = page.locator("#access-dialog")
        access.get_by_label("指定的人员和群组").check()
        access.get_by_label("按名称查找人员和群组").fill("财务")
        access.locator("#access-results li").filter(has_text=GROUP).get_by_role("button").click()
        expect(access.locator("#access-chosen")).to_contain_text(GROUP)
        access.get_by_role("button", name="保存").click()
        expect(access).to_be_hidden()
        assert admin.console_errors == []  # type: ignore[attr-defined]
        admin.close()

        # The colleague signs in through the form with the generated password.
        colleague = new_context(browser, server.url, "zh-CN")
        mine = colleague.new_page()
        mine.goto("/login")
        mine.get_by_label("组织").fill(tenant)
        mine.get_by_label("用户名").fill(NEWCOMER)
        mine.get_by_label("密码").fill(password)
        mine.get_by_role("button", name="登录").click()
        expect(mine).to_have_url(server.url + "/")
        mine.goto("/documents")
        expect(mine.locator("#doc-rows tr")).to_have_count(1)
        expect(mine.locator("#doc-rows .filename")).to_have_text("差旅制度.txt")
        assert_accessible(mine)
        assert _search(colleague, server, "出差住宿标准") == ["差旅制度"]
        assert colleague.console_errors == []  # type: ignore[attr-defined]
        colleague.close()

        outsider = signed_in(browser, server.url, tenant, "outsider", language="zh-CN")
        assert _search(outsider, server, "出差住宿标准") == []
        other = outsider.new_page()
        other.goto("/documents")
        expect(other.locator("#count")).to_have_text("共 0 个文档")
        outsider.close()


def _search(context, server: ThreadServer, query: str) -> list[str]:  # type: ignore[no-untyped-def]
    """Titles found by ``POST /v1/search`` with the context's browser session."""
    csrf = context.request.get("/v1/auth/session").json()["csrf_token"]
    response = context.request.post(
        "/v1/search",
        data={"query": query, "limit": 5},
        headers={"Origin": server.url, "X-CSRF-Token": csrf},
    )
    assert response.ok, response.text()
    return [hit["title"] for hit in response.json()["results"]]
