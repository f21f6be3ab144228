"""The chat page in a real browser (Chromium) against a real server (PostgreSQL) answering with
a real llama.cpp server (the packaged model): sources before the answer, a streamed answer
with [n] citations that open the cited passage, thumbs up stored, a user never shown a
document they may not read, HTML from documents and from the model kept inert, the keyboard
(Enter, Shift+Enter, an input method's Enter), stop generating, conversations listed, opened
and deleted, in Chinese and English; axe finds nothing serious; no console errors.

Two answers are generated (one per language) and one is stopped at once: the small model is
slow on a shared CPU. How the page renders a hostile answer is checked by answering the
page's request with a crafted stream (``page.route``), since no model can be made to write
HTML on demand; the passage it cites is real.
"""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, Route, expect
from sqlalchemy import select

from core.db import identity, web_sessions
from core.db import keys as key_queries
from core.db.models import AnswerRecord, utcnow
from core.db.session import transaction
from index.types import chunk_id
from llm.local_server import LlamaCppServer
from services import passwords
from tests.api.world import upload, wait_terminal
from tests.live import ThreadServer
from tests.support import make_settings
from tests.web.browser import PASSWORD, assert_accessible, signed_in

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
ETNA = (
    "mount-etna.txt",
    "Mount Etna\n\nMount Etna is a volcano on the east coast of Sicily. In 1886 its lava "
    "flows reached the town of Nicolosi.",
)
PALACE = (
    "故宫博物院.txt",
    "故宫博物院\n\n故宫博物院位于北京市中心，是明清两代的皇家宫殿，始建于1406年，1420年建成。",
)
# Only 王芳 may read it; it is about Etna too, so it would rank first for bob's question.
SECRET = (
    "observatory-memo.txt",
    "Confidential Etna observatory memo\n\nThe Etna observatory records that lava reached "
    "Nicolosi in 1886; its budget of nine million euros is confidential.",
)
HOSTILE = (
    "gallery.txt",
    "Gallery notice\n\nThe gallery closes on Mondays. <img src=x onerror=window.__xss=1> "
    "<script>window.__xss=2</script> Tickets cost five euros.",
)
# Short contexts and answers: the behaviour under test does not depend on length.
RETRIEVAL = {"context_tokens": 300, "max_passages": 3}
MAX_TOKENS = 48
QUESTION_ZH = "故宫博物院是哪一年建成的？请注明出处。"


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory, llama_server: LlamaCppServer):  # type: ignore[no-untyped-def]
    backend = llama_server.backend_settings(name="local", read_timeout_s=300)
    settings = make_settings(
        tmp_path_factory.mktemp("chat-page"),
        database={"url": pg_url},
        llm={
            "backends": [backend.model_copy(update={"max_tokens": MAX_TOKENS})],
            "local": {"enabled": False},
        },
        retrieval=RETRIEVAL,
    )
    with ThreadServer(settings) as srv:
        yield srv


class Tenant:
    """王芳 (admin, uploaded everything, alone may read the memo) and bob."""

    def __init__(self, server: ThreadServer) -> None:
        self.name = f"研发部-{uuid.uuid4().hex[:6]}"
        pepper = server.container.settings.secret_key
        with transaction(server.container.sessions) as s:
            self.id = identity.create_tenant(s, self.name).id
            self.users = {}
            for name, admin in (("王芳", True), ("bob", False)):
                user = identity.create_user(s, self.id, name, is_admin=admin)
                web_sessions.set_password_hash(
                    s, user, passwords.hash_password(PASSWORD), now=utcnow(), actor_id=None
                )
                self.users[name] = user.id
            owner = identity.get_user(s, self.id, self.users["王芳"])
            key = key_queries.issue_api_key(s, owner, pepper).plaintext
        self.docs: dict[str, str] = {}
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {key}"}, timeout=60
        ) as client:
            shared = [(n, b.encode()) for n, b in (ETNA, PALACE, HOSTILE)]
            r = upload(client, shared, access={"everyone": True})
            assert r.status_code == 202, r.text
            self.docs = {d["filename"]: d["id"] for d in r.json()["data"]}
            r = upload(client, [(SECRET[0], SECRET[1].encode())])  # no list: 王芳's own
            assert r.status_code == 202, r.text
            self.docs[SECRET[0]] = r.json()["data"][0]["id"]
            for doc_id in self.docs.values():
                assert wait_terminal(client, doc_id)["status"] == "ready"


@pytest.fixture(scope="module")
def tenant(server: ThreadServer) -> Tenant:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return Tenant(server)


def records(server: ThreadServer, user_id: str) -> list[AnswerRecord]:
    with transaction(server.container.sessions) as session:
        return list(
            session.scalars(
                select(AnswerRecord)
                .where(AnswerRecord.user_id == user_id)
                .order_by(AnswerRecord.created_at.desc())
            )
        )


def no_markup_from_text(page: Page) -> None:
    """Nothing a document or a model wrote became an element."""
    for where in ("#chat-log", "#chat-passage"):
        assert page.locator(f"{where} img, {where} script, {where} iframe").count() == 0
    assert page.evaluate("window.__xss") is None


def ask_and_check(page: Page, question: str, sources_name: str) -> None:
    """Ask, see the sources before the answer ends, then the finished answer with a citation."""
    box = page.locator("#chat-input")
    box.fill(question)
    box.press("Enter")
    turn = page.locator(".chat-turn").last
    expect(turn.locator(".chat-question")).to_have_text(question)
    expect(turn.get_by_role("heading", name=sources_name)).to_be_visible(timeout=120_000)
    expect(turn.locator(".chat-tools button").first).to_be_visible(timeout=300_000)
    expect(turn.locator(".chat-answer")).not_to_have_class("streaming")
    expect(page.locator("#chat-log")).to_have_attribute("aria-busy", "false")


def test_chinese_question_sources_citation_passage_feedback(
    browser: Browser, server: ThreadServer, tenant: Tenant
) -> None:
    context = signed_in(browser, server.url, tenant.name, "王芳", language="zh-CN")
    page = context.new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto("/chat")
    expect(page.get_by_role("heading", name="对话")).to_be_visible()
    expect(page.get_by_text("就您的文档提问。回答会注明出处。")).to_be_visible()
    assert_accessible(page)

    # Shift+Enter is a new line; an input method's Enter (choosing a candidate) never sends.
    box = page.get_by_label("您的问题")
    box.fill("故宫")
    box.press("Shift+Enter")
    assert box.input_value() == "故宫\n"
    box.evaluate(
        """b => b.dispatchEvent(new KeyboardEvent("keydown",
            {key: "Enter", isComposing: true, bubbles: true, cancelable: true}))"""
    )
    expect(page.locator(".chat-turn")).to_have_count(0)

    # The small test model cites in Chinese only when asked to (its prompt's only Chinese
    # example is a refusal): a user's "请注明出处" is part of the question.
    ask_and_check(page, QUESTION_ZH, "来源")
    turn = page.locator(".chat-turn").last
    sources = turn.locator(".chat-source")
    expect(sources.filter(has_text="故宫博物院")).to_have_count(1)
    answer = turn.locator(".chat-answer")
    expect(answer).to_contain_text("年")
    cite = answer.locator("button.chat-cite").first
    expect(cite).to_be_visible()
    assert (cite.get_attribute("aria-label") or "").startswith("来源 ")
    no_markup_from_text(page)
    assert_accessible(page)
    page.screenshot(path=str(SCREENSHOTS / "chat-zh-CN.png"))

    # The citation opens its passage: title, the chunk highlighted, the original file.
    cite.click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    expect(dialog.locator("mark").first).not_to_be_empty()
    expect(dialog.get_by_role("link", name="打开原始文件")).to_have_attribute(
        "href", f"/v1/documents/{tenant.docs[PALACE[0]]}/file"
    )
    assert_accessible(page)
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()

    # Thumbs up is stored with the answer record.
    turn.get_by_role("button", name="回答有帮助").click()
    expect(turn.get_by_role("button", name="回答有帮助")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("status")).to_have_text("感谢您的反馈。")
    latest = records(server, tenant.users["王芳"])[0]
    assert latest.feedback == "up" and latest.outcome == "ok"

    # The conversation is listed, with a date in Chinese, and opens again from the list.
    item = page.locator(".chat-list li").first
    expect(item).to_contain_text(QUESTION_ZH)
    expect(item.locator("time")).to_contain_text("年")
    page.get_by_role("button", name="新对话").click()
    expect(page.locator(".chat-turn")).to_have_count(0)
    item.locator(".chat-open").click()
    expect(page.locator(".chat-turn")).to_have_count(1)
    expect(page.get_by_role("button", name="回答有帮助")).to_have_attribute("aria-pressed", "true")
    expect(page.locator(".chat-answer button.chat-cite").first).to_be_visible()
    assert context.console_errors == []  # type: ignore[attr-defined]
    context.close()


def test_english_question_never_shows_what_the_user_may_not_read(
    browser: Browser, server: ThreadServer, tenant: Tenant
) -> None:
    context = signed_in(browser, server.url, tenant.name, "bob", language="en")
    page = context.new_page()
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto("/chat")
    ask_and_check(page, "When did lava from Mount Etna reach Nicolosi?", "Sources")
    turn = page.locator(".chat-turn").last
    expect(turn.locator(".chat-source").filter(has_text="mount-etna")).to_have_count(1)
    expect(turn.locator(".chat-answer")).to_contain_text("1886")
    cite = turn.locator(".chat-answer button.chat-cite").first
    expect(cite).to_be_visible()
    # The memo would rank first for this question: bob is never shown it.
    expect(page.get_by_text("observatory", exact=False)).to_have_count(0)
    expect(page.get_by_text("nine million", exact=False)).to_have_count(0)
    no_markup_from_text(page)
    assert_accessible(page)
    page.screenshot(path=str(SCREENSHOTS / "chat-en.png"))
    latest = records(server, tenant.users["bob"])[0]
    secret = tenant.docs[SECRET[0]]
    assert all(r["doc_id"] != secret for r in latest.retrieved)

    cite.click()
    dialog = page.get_by_role("dialog")
    expect(dialog.locator("mark")).to_contain_text("Nicolosi")
    expect(dialog).to_contain_text("Open the original file")
    dialog.get_by_role("button", name="Close").click()
    expect(dialog).to_be_hidden()

    # Copy puts the answer's text on the clipboard.
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)
    turn.get_by_role("button", name="Copy answer").click()
    expect(page.get_by_role("status")).to_have_text("Answer copied.")
    assert "1886" in page.evaluate("navigator.clipboard.readText()")

    # Thumbs down asks, optionally, what was wrong; the vote and the words are stored.
    turn.get_by_role("button", name="Bad answer").click()
    why = page.get_by_label("What was wrong with it? (optional)")
    expect(why).to_be_focused()
    why.fill("Too short <b>really</b>")
    page.get_by_role("button", name="Send feedback").click()
    expect(page.get_by_role("status")).to_have_text("Thanks for your feedback.")
    expect(why).to_have_count(0)
    expect(turn.get_by_role("button", name="Bad answer")).to_have_attribute("aria-pressed", "true")
    good = turn.get_by_role("button", name="Good answer")
    expect(good).to_have_attribute("aria-pressed", "false")
    voted = records(server, tenant.users["bob"])[0]
    assert (voted.feedback, voted.feedback_comment) == ("down", "Too short <b>really</b>")

    # A phone: one column, nothing wider than the screen.
    page.set_viewport_size({"width": 390, "height": 844})
    expect(page.get_by_label("Your question")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size({"width": 1280, "height": 800})

    # Stop generating: the page stops, and the server stops and audits it as cancelled.
    page.get_by_role("button", name="New conversation").click()  # no follow-up to rewrite
    box = page.get_by_label("Your question")
    box.fill("Which coast of Sicily is Mount Etna on?")
    box.press("Enter")
    stop = page.get_by_role("button", name="Stop generating")
    expect(stop).to_be_visible()
    # The sources arrive while the answer is still being written.
    sources = page.locator(".chat-turn").last.get_by_role("heading", name="Sources")
    expect(sources).to_be_visible(timeout=120_000)
    expect(stop).to_be_visible()
    stop.click()
    expect(page.locator(".chat-turn").last).to_contain_text("Stopped.")
    expect(stop).to_be_hidden()
    deadline = time.monotonic() + 120
    while records(server, tenant.users["bob"])[0].outcome != "cancelled":
        assert time.monotonic() < deadline, "the stopped answer was not cancelled"
        time.sleep(0.5)
    check_stopped_turn_kept(browser, server, tenant, page)

    # Delete a conversation (two steps): gone from the list and from the API.
    items = page.locator(".chat-list li")
    expect(items).to_have_count(2)
    first = items.first.locator(".chat-open").inner_text()
    remove = items.first.locator(".chat-delete")
    remove.click()
    expect(remove).to_have_text("Confirm delete")
    remove.click()
    expect(page.get_by_role("status")).to_have_text("Conversation deleted.")
    expect(items).to_have_count(1)
    expect(items.first).not_to_contain_text(first.splitlines()[0])
    assert context.console_errors == []  # type: ignore[attr-defined]
    context.close()


def check_stopped_turn_kept(
    browser: Browser, server: ThreadServer, tenant: Tenant, page: Page
) -> None:
    """The stopped question and what was shown of its answer stay in the conversation, marked
    stopped in the side list and in the conversation, in English and in Chinese."""
    question = "Which coast of Sicily is Mount Etna on?"
    conversation_id = page.evaluate("new URL(location.href).searchParams.get('c')")
    assert conversation_id
    detail = page.request.get(f"{server.url}/v1/conversations/{conversation_id}").json()
    user, assistant = detail["messages"]
    assert (user["role"], user["content"], user["stopped"]) == ("user", question, False)
    assert assistant["role"] == "assistant" and assistant["stopped"] is True
    assert assistant["answer_id"] == records(server, tenant.users["bob"])[0].id
    assert detail["stopped"] is True
    listed = page.request.get(f"{server.url}/v1/conversations").json()["data"]
    assert [c["stopped"] for c in listed] == [True, False]  # the older one was answered
    page.reload()  # reopens ?c=<the stopped conversation>
    turn = page.locator(".chat-turn").last
    expect(turn.locator(".chat-question")).to_have_text(question)
    expect(turn.locator(".chat-stopped")).to_have_text(
        "Stopped before it was done: the answer may be incomplete."
    )
    expect(page.locator(".chat-list li").first.locator(".chat-stopped-mark")).to_have_text(
        "stopped"
    )
    expect(page.locator(".chat-list li").last.locator(".chat-stopped-mark")).to_have_count(0)
    assert_accessible(page)
    chinese = signed_in(browser, server.url, tenant.name, "bob", language="zh-CN")
    zh_page = chinese.new_page()
    zh_page.goto(f"/chat?c={conversation_id}")
    zh_turn = zh_page.locator(".chat-turn").last
    expect(zh_turn.locator(".chat-question")).to_have_text(question)
    expect(zh_turn.locator(".chat-stopped")).to_have_text("回答在完成前被停止，可能不完整。")
    expect(zh_page.locator(".chat-list li").first.locator(".chat-stopped-mark")).to_have_text(
        "已停止"
    )
    assert_accessible(zh_page)
    assert chinese.console_errors == []  # type: ignore[attr-defined]
    chinese.close()


def test_html_in_an_answer_or_a_document_never_becomes_markup(
    browser: Browser, server: ThreadServer, tenant: Tenant
) -> None:
    doc_id = tenant.docs[HOSTILE[0]]
    chunk = chunk_id(tenant.id, doc_id, 1, 0)
    source = {
        "number": 1,
        "document_id": doc_id,
        "version": 1,
        "title": "Gallery <img src=x onerror=window.__xss=3>",
        "filename": HOSTILE[0],
        "page": None,
        "page_end": None,
        "section": [],
        "chunk_ids": [chunk],
        "excerpt": HOSTILE[1],
        "truncated": False,
    }
    tokens = [
        "The gallery closes on **Mondays** [1]. ",
        '<img src=x onerror="window.__xss=4"><script>window.__xss=5</script>',
        "\n\n[click](javascript:window.__xss=6) <iframe src=/></iframe> ![x](http://x/y.png)",
    ]
    events = [
        ("meta", {"conversation_id": "c1", "search_query": "gallery"}),
        ("sources", {"sources": [source]}),
        *[("token", {"text": t}) for t in tokens],
        ("citations", {"citations": []}),
        ("done", {"message_id": "m", "answer_id": None, "outcome": "ok", "model": "x"}),
    ]
    body = "".join(f"event: {e}\ndata: {json.dumps(d)}\n\n" for e, d in events)

    def crafted(route: Route) -> None:
        route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=body)

    context = signed_in(browser, server.url, tenant.name, "bob", language="en")
    page = context.new_page()
    page.route("**/v1/chat", crafted)
    page.goto("/chat")
    page.get_by_label("Your question").fill("When is the gallery closed?")
    page.get_by_role("button", name="Send").click()
    answer = page.locator(".chat-answer").last
    expect(answer.locator("strong")).to_have_text("Mondays")
    expect(answer).to_contain_text('<img src=x onerror="window.__xss=4">')
    expect(answer).to_contain_text("<script>window.__xss=5</script>")
    # javascript: is no link; the image is no image, only a plain http(s) link.
    hrefs = answer.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert hrefs == ["http://x/y.png"]
    expect(answer.locator("a")).to_have_attribute("rel", "noopener noreferrer")
    expect(page.locator(".chat-source")).to_contain_text("<img src=x onerror=window.__xss=3>")
    no_markup_from_text(page)

    # The real passage behind the citation: its markup shown as text, highlighted.
    answer.locator("button.chat-cite").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.locator("mark")).to_contain_text("<script>window.__xss=2</script>")
    no_markup_from_text(page)
    page.keyboard.press("Escape")
    assert context.console_errors == []  # type: ignore[attr-defined]
    context.close()


def test_no_answer_in_your_documents_is_said_plainly(
    browser: Browser, server: ThreadServer, tenant: Tenant
) -> None:
    # A tenant with no document: nothing matches, no model is asked.
    empty = f"空部门-{uuid.uuid4().hex[:6]}"
    with transaction(server.container.sessions) as s:
        tenant_id = identity.create_tenant(s, empty).id
        user = identity.create_user(s, tenant_id, "李雷")
        web_sessions.set_password_hash(
            s, user, passwords.hash_password(PASSWORD), now=utcnow(), actor_id=None
        )
    for language, question, notice in (
        ("zh-CN", "年假有多少天？", "您的文档中没有答案"),
        ("en", "How many days of leave do I get?", "No answer in your documents"),
    ):
        context = signed_in(browser, server.url, empty, "李雷", language=language)
        page = context.new_page()
        page.goto("/chat")
        box = page.locator("#chat-input")
        box.fill(question)
        box.press("Enter")
        turn = page.locator(".chat-turn").last
        expect(turn.locator(".chat-outcome")).to_contain_text(notice)
        expect(turn.locator(".chat-sources")).to_have_count(0)
        expect(turn.locator(".chat-cite")).to_have_count(0)
        assert_accessible(page)
        assert context.console_errors == []  # type: ignore[attr-defined]
        context.close()
