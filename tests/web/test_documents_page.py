"""The documents page in a real browser (Chromium), in Chinese and in English, against a real
server (PostgreSQL, in-process ingestion): upload files of several formats and a folder, watch
them reach "ready", a broken file fail with its reason (and be retried), search and filter,
share with a colleague by name, delete with confirmation; nobody sees what they may not read;
no HTML injection through file names; accessible; no console errors."""

from __future__ import annotations

import io
import re
import uuid
from pathlib import Path

import docx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.live import ThreadServer
from tests.support import make_settings
from tests.web.browser import add_people, assert_accessible, signed_in

REPO = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO / "docs" / "screenshots"
CORRUPT_PDF = b"%PDF-1.7\n" + bytes(range(256)) * 40
HOSTILE = "<img src=x onerror=alert(1)>.txt"
# The server drops <, > and the like from file names; the tags keep them.
HOSTILE_STORED = "img src=x onerror=alert(1).txt"
HOSTILE_TAG = "<b onmouseover=alert(2)>粗</b>"
PROCESSING_MS = 180_000

WORDS = {
    "zh-CN": {
        "ready": "已就绪",
        "failed": "失败",
        "retry": "重试",
        "search": "按名称搜索",
        "status": "状态",
        "type": "类型",
        "reset": "重置",
        "delete": "删除",
        "cancel": "取消",
        "access": "权限",
        "people": "指定的人员和群组",
        "find": "按名称查找人员和群组",
        "save": "保存",
        "refused": "被拒绝",
        "unparsed": "无法解析该文件：PDF 已损坏或不完整",
        "count_one": "共 1 个文档",
        "none": "没有符合条件的文档。",
    },
    "en": {
        "ready": "Ready",
        "failed": "Failed",
        "retry": "Retry",
        "search": "Search by name",
        "status": "Status",
        "type": "Type",
        "reset": "Reset",
        "delete": "Delete",
        "cancel": "Cancel",
        "access": "Access",
        "people": "Chosen people and groups",
        "find": "Find people and groups by name",
        "save": "Save",
        "refused": "Refused",
        "unparsed": "the file could not be parsed: corrupt PDF",
        "count_one": "1 document",
        "none": "No documents match.",
    },
}


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("documents-page"), database={"url": pg_url})
    with ThreadServer(settings) as srv:
        yield srv


def docx_bytes(text: str) -> bytes:
    document = docx.Document()
    document.add_heading("差旅报销制度", level=1)
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def row(page: Page, filename: str):  # type: ignore[no-untyped-def]
    return page.locator("#doc-rows tr").filter(has=page.locator(".filename", has_text=filename))


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_upload_watch_filter_share_and_delete(
    browser: Browser, server: ThreadServer, tmp_path: Path, language: str
) -> None:
    w = WORDS[language]
    tenant = f"文档部-{uuid.uuid4().hex[:6]}"
    add_people(server, tenant, {"李娜": False, "bob": False, "carol": False})
    context = signed_in(browser, server.url, tenant, "李娜", language=language)
    page = context.new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    page.on("dialog", lambda d: pytest.fail(f"a script ran: {d.message}"))
    page.goto("/documents")
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.locator("#count")).to_have_text(
        "共 0 个文档" if language == "zh-CN" else "0 documents"
    )

    page.get_by_label(
        "新文档的标签（以逗号分隔）"
        if language == "zh-CN"
        else "Tags for the new documents (comma-separated)"
    ).fill(f"季度, {HOSTILE_TAG}")
    # Three formats, a hostile name, an empty file and a broken PDF, through the file picker.
    page.locator("#file-input").set_input_files(
        [
            {
                "name": "季度报告.txt",
                "mimeType": "text/plain",
                "buffer": "第三季度销售额增长百分之十二，主要来自华东地区。".encode(),
            },
            {
                "name": "notes.md",
                "mimeType": "text/markdown",
                "buffer": b"# Meeting notes\n\nThe Lisbon office opens in May.",
            },
            {
                "name": "差旅制度.docx",
                "mimeType": "application/octet-stream",
                "buffer": docx_bytes("出差住宿标准为每晚五百元。"),
            },
            {
                "name": HOSTILE,
                "mimeType": "text/plain",
                "buffer": b"Harmless text with a hostile name.",
            },
            {"name": "empty.txt", "mimeType": "text/plain", "buffer": b""},
            {"name": "broken.pdf", "mimeType": "application/pdf", "buffer": CORRUPT_PDF},
        ]
    )
    # A whole folder, through the folder picker.
    folder = tmp_path / "手册"
    (folder / "子目录").mkdir(parents=True)
    (folder / "welcome.html").write_text(
        "<html><body><h1>Welcome</h1><p>Badges at the desk.</p></body></html>", encoding="utf-8"
    )
    (folder / "子目录" / "休假.md").write_text("# 休假\n\n每年十五天带薪年假。", encoding="utf-8")
    page.locator("#folder-input").set_input_files(folder)

    uploads = page.locator("#upload-list")
    expect(uploads.locator("li", has_text="empty.txt")).to_contain_text(w["refused"])
    expect(uploads.locator("li", has_text="empty.txt")).to_contain_text("empty")
    expect(uploads.locator("li", has_text="子目录/休假.md")).to_be_visible()
    ready_names = [
        "季度报告.txt",
        "notes.md",
        "差旅制度.docx",
        HOSTILE_STORED,
        "welcome.html",
        "休假.md",
    ]
    for name in ready_names:
        expect(row(page, name).locator(".badge")).to_have_text(w["ready"], timeout=PROCESSING_MS)
    # The upload list follows processing to the end too.
    expect(uploads.locator("li", has_text="notes.md").locator(".badge")).to_have_text(w["ready"])
    broken = row(page, "broken.pdf")
    expect(broken.locator(".badge")).to_have_text(w["failed"], timeout=PROCESSING_MS)
    expect(broken.locator(".reason")).to_contain_text(w["unparsed"])
    expect(page.locator("#count")).to_have_text(
        "共 7 个文档" if language == "zh-CN" else "7 documents"
    )

    # Hostile names and tags are text, never markup.
    expect(uploads.locator(".upload-name", has_text="onerror")).to_have_text(HOSTILE)
    expect(row(page, "季度报告.txt").locator(".tags li").nth(1)).to_have_text(HOSTILE_TAG)
    assert page.locator("main img, main b").count() == 0

    # Sizes and dates in the page's language.
    size = row(page, "notes.md").locator("td").nth(2)
    expect(size).to_have_text("48字节" if language == "zh-CN" else "48 bytes")
    docx_size = row(page, "差旅制度.docx").locator("td").nth(2)
    expect(docx_size).to_have_text(
        re.compile(r"^\d+(\.\d)? kB$" if language == "en" else r"^\d+(\.\d)? ?(kB|千字节)$")
    )

    # Retry: the broken file goes round again and fails with its reason again.
    with page.expect_response("**/retry") as retried:
        broken.get_by_role("button", name=w["retry"]).click()
    assert retried.value.status == 202
    expect(broken.locator(".badge")).not_to_have_text(w["failed"])
    expect(broken.locator(".badge")).to_have_text(w["failed"], timeout=PROCESSING_MS)
    expect(broken.locator(".reason")).to_contain_text(w["unparsed"])

    assert_accessible(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(SCREENSHOTS / f"documents-{language}.png"))

    # Search by name, filter by status and by type.
    page.get_by_label(w["search"]).fill("报告")
    expect(page.locator("#doc-rows tr")).to_have_count(1)
    expect(row(page, "季度报告.txt")).to_be_visible()
    expect(page.locator("#count")).to_have_text(w["count_one"])
    page.get_by_label(w["search"]).fill("100%")
    expect(page.locator("#doc-rows")).to_have_text(w["none"])
    page.get_by_role("button", name=w["reset"]).click()
    expect(page.locator("#doc-rows tr")).to_have_count(7)
    page.get_by_label(w["status"]).select_option("failed")
    expect(page.locator("#doc-rows tr")).to_have_count(1)
    expect(row(page, "broken.pdf")).to_be_visible()
    page.get_by_label(w["status"]).select_option("")
    page.get_by_label(w["type"]).select_option("md")
    expect(page.locator("#doc-rows tr")).to_have_count(2)
    expect(row(page, "休假.md")).to_be_visible()
    page.get_by_role("button", name=w["reset"]).click()
    expect(page.locator("#doc-rows tr")).to_have_count(7)

    # Share the report with bob, picked by name.
    row(page, "季度报告.txt").get_by_role("button", name=w["access"]).click()
    dialog = page.locator("#access-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label(w["people"]).check()
    dialog.get_by_label(w["find"]).fill("bo")
    dialog.locator("#access-results").get_by_role("button").first.click()
    expect(dialog.locator("#access-chosen")).to_contain_text("bob")
    assert_accessible(page)
    dialog.get_by_role("button", name=w["save"]).click()
    expect(dialog).to_be_hidden()
    expect(row(page, "季度报告.txt").locator(".meta")).to_contain_text(
        "1 位读者" if language == "zh-CN" else "1 reader"
    )

    # Delete, confirmed in a real dialog (Escape cancels it first).
    target = row(page, "notes.md")
    target.get_by_role("button", name=w["delete"]).click()
    confirm = page.locator("#delete-dialog")
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text("notes.md")
    page.keyboard.press("Escape")
    expect(confirm).to_be_hidden()
    expect(target).to_have_count(1)
    target.get_by_role("button", name=w["delete"]).click()
    confirm.get_by_role("button", name=w["delete"], exact=True).click()
    expect(row(page, "notes.md")).to_have_count(0)
    expect(page.locator("#count")).to_have_text(
        "共 6 个文档" if language == "zh-CN" else "6 documents"
    )
    assert context.console_errors == []  # type: ignore[attr-defined]
    context.close()

    # bob sees only what was shared with him; carol sees nothing at all.
    for who, expected in (("bob", ["季度报告.txt"]), ("carol", [])):
        other = signed_in(browser, server.url, tenant, who, language=language)
        other_page = other.new_page()
        other_page.goto("/documents")
        expect(other_page.locator("#count")).to_have_text(
            re.compile(r"[01]")  # the list has loaded
        )
        if expected:
            expect(other_page.locator("#doc-rows tr")).to_have_count(len(expected))
            expect(row(other_page, expected[0])).to_be_visible()
            # A reader may not manage it: no actions offered.
            expect(row(other_page, expected[0]).get_by_role("button")).to_have_count(0)
        else:
            expect(other_page.locator("#doc-rows")).to_have_text(w["none"])
        other_page.get_by_label(w["search"]).fill("notes")
        expect(other_page.locator("#doc-rows")).to_have_text(w["none"])
        assert other.console_errors == []  # type: ignore[attr-defined]
        other.close()


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_files_dropped_on_a_phone_sized_screen(
    browser: Browser, server: ThreadServer, language: str
) -> None:
    w = WORDS[language]
    tenant = f"手机-{uuid.uuid4().hex[:6]}"
    add_people(server, tenant, {"王芳": True})
    context = signed_in(browser, server.url, tenant, "王芳", language=language)
    page = context.new_page()
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/documents")
    expect(page.locator("#count")).to_have_text(
        "共 0 个文档" if language == "zh-CN" else "0 documents"
    )
    # A drop carries files the page has never seen through a picker.
    page.locator("#drop-zone").evaluate(
        """(zone, files) => {
            const data = new DataTransfer();
            for (const [name, text] of files) data.items.add(new File([text], name));
            const drop = new DragEvent("drop", {dataTransfer: data, cancelable: true});
            zone.dispatchEvent(drop);
        }""",
        [["拖放.txt", "拖放进来的会议纪要：下周一开会。"], ["dropped.md", "# Dropped\n\nA note."]],
    )
    for name in ("拖放.txt", "dropped.md"):
        expect(row(page, name).locator(".badge")).to_have_text(w["ready"], timeout=PROCESSING_MS)
    # One card per document, nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    expect(page.locator("#doc-table thead")).not_to_be_in_viewport()
    assert_accessible(page)
    assert context.console_errors == []  # type: ignore[attr-defined]
    context.close()


# Builds a drop whose items yield directory entries, the way Chromium hands a dropped OS
# folder to the page (webkitGetAsEntry → FileSystemDirectoryEntry): Playwright cannot drop a
# real folder. Each directory's reader answers in pieces of two, then an empty piece, as
# readEntries does in pieces of about a hundred; a loose file comes without an entry.
DROP_FOLDER = """(zone, [tree, loose]) => {
    const fileEntry = (path, text) => {
        const name = path.split("/").pop();
        return {isFile: true, isDirectory: false, name, fullPath: "/" + path,
                file: (ok) => setTimeout(() => ok(new File([text], name)))};
    };
    const dirEntry = (path, node) => {
        const children = Object.entries(node).map(([name, value]) =>
            typeof value === "string" ? fileEntry(path + "/" + name, value)
                                      : dirEntry(path + "/" + name, value));
        return {isFile: false, isDirectory: true, name: path.split("/").pop(),
                fullPath: "/" + path,
                createReader: () => {
                    let next = 0;
                    return {readEntries: (ok) => setTimeout(() => {
                        ok(children.slice(next, next + 2));
                        next += 2;
                    })};
                }};
    };
    const items = Object.entries(tree).map(([name, node]) => (
        {kind: "file", webkitGetAsEntry: () => dirEntry(name, node), getAsFile: () => null}));
    for (const [name, text] of loose) {
        const file = new File([text], name);
        items.push({kind: "file", webkitGetAsEntry: () => null, getAsFile: () => file});
    }
    const drop = new Event("drop", {bubbles: true, cancelable: true});
    Object.defineProperty(drop, "dataTransfer", {value: {items, files: []}});
    zone.dispatchEvent(drop);
}"""
FOLDER_TREE = {
    "项目资料": {
        "概述.txt": "项目资料概述：预算三十万元，明年三月完成。",
        "team-notes.txt": "The team meets every Tuesday in room 4.",
        "reports": {
            "summary.md": "# Summary\n\nRevenue grew in the third quarter.",
            "季度": {"第三季度.txt": "第三季度收入增长百分之八。"},
            "空目录": {},
        },
    }
}
DROPPED_PATHS = {
    "项目资料/概述.txt": "概述.txt",
    "项目资料/team-notes.txt": "team-notes.txt",
    "项目资料/reports/summary.md": "summary.md",
    "项目资料/reports/季度/第三季度.txt": "第三季度.txt",
    "loose-文件.txt": "loose-文件.txt",
}


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_a_dropped_folder_uploads_every_nested_file(
    browser: Browser, server: ThreadServer, language: str
) -> None:
    w = WORDS[language]
    tenant = f"文件夹-{uuid.uuid4().hex[:6]}"
    add_people(server, tenant, {"赵磊": False})
    context = signed_in(browser, server.url, tenant, "赵磊", language=language)
    page = context.new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto("/documents")
    expect(page.locator("#count")).to_have_text(
        "共 0 个文档" if language == "zh-CN" else "0 documents"
    )
    page.locator("#drop-zone").evaluate(
        DROP_FOLDER, [FOLDER_TREE, [["loose-文件.txt", "A loose file beside the folder."]]]
    )
    uploads = page.locator("#upload-list .upload-name")
    # Every nested file, listed by its path inside the dropped folder; nothing else.
    expect(uploads).to_have_count(len(DROPPED_PATHS))
    assert sorted(uploads.all_inner_texts()) == sorted(DROPPED_PATHS)
    for filename in DROPPED_PATHS.values():
        expect(row(page, filename).locator(".badge")).to_have_text(
            w["ready"], timeout=PROCESSING_MS
        )
    count = len(DROPPED_PATHS)
    expect(page.locator("#count")).to_have_text(
        f"共 {count} 个文档" if language == "zh-CN" else f"{count} documents"
    )
    # The upload list follows each nested file to the end too.
    deep = page.locator("#upload-list li", has_text="项目资料/reports/季度/第三季度.txt")
    expect(deep.locator(".badge")).to_have_text(w["ready"])
    assert_accessible(page)
    assert context.console_errors == []  # type: ignore[attr-defined]
    context.close()
