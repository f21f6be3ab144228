"""The embeddable widget in a real browser, on another site's page: a host page served from a
second loopback server (another origin) loads ``/widget.js`` from Zhiku with a chat-only key
bound to that origin. It answers from an ingested document (the real llama.cpp server, two
short answers), in English and Chinese; a page on an origin the key is not bound to is
refused, clearly; a revoked key stops on the next question; axe finds nothing serious inside
the Shadow DOM; the iframe variant takes its key by postMessage."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from llm.local_server import LlamaCppServer
from tests.api.world import World, seeded_world
from tests.live import ThreadServer, free_port
from tests.support import make_settings
from tests.web.browser import assert_accessible, new_context

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
DOCS = {
    "nightjar.txt": "Project Nightjar\n\nProject Nightjar is a weather satellite programme. Its "
    "launch is planned for March 2027, from the Kourou spaceport.",
    "夜鹰.txt": "夜鹰项目\n\n夜鹰项目是一个气象卫星计划。卫星计划于2027年3月从库鲁航天中心发射。",
}
QUESTIONS = {
    "en": ("When is the launch of Project Nightjar planned?", "2027"),
    "zh-CN": ("夜鹰项目的卫星计划什么时候发射？", "2027"),
}
WORDS = {
    "en": {
        "open": "Ask the knowledge base",
        "question": "Your question",
        "close": "Close",
        "sources": "Sources",
        "refused_origin": "This site may not use this assistant",
        "bad_key": "key is not valid any more",
    },
    "zh-CN": {
        "open": "向知识库提问",
        "question": "你的问题",
        "close": "关闭",
        "sources": "来源",
        "refused_origin": "本网站无权使用此助手",
        "bad_key": "密钥已失效",
    },
}


class HostSite:
    """Another site: a tiny ``http.server`` on its own port serving pages set by the test."""

    def __init__(self) -> None:
        self.pages: dict[str, str] = {}
        pages = self.pages

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = pages.get(self.path.split("?")[0])
                if body is None:
                    self.send_error(404)
                    return
                data = body.encode("utf-8")
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *_: object) -> None:
                pass

        self.port = free_port()
        self.origin = f"http://127.0.0.1:{self.port}"
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HostSite:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def host_page(zhiku: str, key: str, lang: str, title: str) -> str:
    # A page with style of its own that would wreck the widget without its Shadow DOM.
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title>
<link rel="icon" href="data:,">
<style>* {{ font-size: 40px !important; color: #c00 !important; }}
button {{ display: none !important; }}</style></head>
<body><main><h1>{title}</h1><p>Acme CRM</p></main>
<script src="{zhiku}/widget.js" data-key="{key}" data-lang="{lang}" async></script>
</body></html>"""


def frame_host_page(zhiku: str, key: str, lang: str) -> str:
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>Frame host</title>
<link rel="icon" href="data:,"></head>
<body><main><h1>Frame host</h1>
<iframe id="zk" title="Zhiku" src="{zhiku}/widget/frame" width="420" height="560"></iframe>
</main>
<script>
const frame = document.getElementById("zk");
window.addEventListener("message", (event) => {{
  if (event.source === frame.contentWindow && event.data && event.data.type === "zhiku:ready") {{
    frame.contentWindow.postMessage({{type: "zhiku:key", key: "{key}", lang: "{lang}"}},
                                    "{zhiku}");
  }}
}});
</script></body></html>"""


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory, llama_server: LlamaCppServer) -> Iterator[ThreadServer]:  # type: ignore[no-untyped-def]
    backend = llama_server.backend_settings(read_timeout_s=180).model_copy(
        update={"max_tokens": 60}
    )
    settings = make_settings(
        tmp_path_factory.mktemp("widget"),
        database={"url": pg_url},
        llm={"backends": [backend], "local": {"enabled": False}},
        retrieval={"context_tokens": 300, "max_passages": 2},
    )
    with ThreadServer(settings) as srv:
        yield srv


@pytest.fixture(scope="module")
def world(server: ThreadServer) -> World:
    return seeded_world(server, DOCS)


@pytest.fixture(scope="module")
def sites() -> Iterator[tuple[HostSite, HostSite]]:
    with HostSite() as allowed, HostSite() as other:
        yield allowed, other


def chat_key(world: World, origin: str) -> dict:
    with world.client("bob") as bob:
        r = bob.post(
            "/v1/me/keys",
            json={"name": "CRM widget", "scope": "chat", "allowed_origins": [origin]},
        )
        assert r.status_code == 201, r.text
        return r.json()


def open_widget(page: Page, lang: str) -> None:
    words = WORDS[lang]
    bubble = page.get_by_role("button", name=words["open"])
    expect(bubble).to_be_visible()
    bubble.click()
    expect(page.get_by_role("dialog")).to_be_visible()
    # Focus moves into the dialog, on the question.
    expect(page.get_by_role("textbox", name=words["question"])).to_be_focused()


def ask(page: Page, lang: str, question: str) -> None:
    box = page.get_by_role("textbox", name=WORDS[lang]["question"])
    box.fill(question)
    box.press("Enter")


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_widget_answers_on_another_site_with_sources(
    browser: Browser,
    server: ThreadServer,
    world: World,
    sites: tuple[HostSite, HostSite],
    lang: str,
) -> None:
    allowed, _ = sites
    key = chat_key(world, allowed.origin)["key"]
    allowed.pages[f"/{lang}.html"] = host_page(server.url, key, lang, "Acme")
    context = new_context(browser, allowed.origin, lang)
    page = context.new_page()
    page.set_viewport_size({"width": 1000, "height": 720})
    page.goto(f"/{lang}.html")
    open_widget(page, lang)
    assert_accessible(page)
    question, expected = QUESTIONS[lang]
    ask(page, lang, question)
    answer = page.locator(".zk-answer").last
    expect(answer.get_by_role("heading", name=WORDS[lang]["sources"])).to_be_visible(
        timeout=240_000
    )
    expect(answer).to_contain_text(expected)
    expect(answer.locator(".zk-sources li").first).to_contain_text(
        re.compile("nightjar|夜鹰", re.IGNORECASE)
    )
    expect(page.locator(".zk-answer").last).to_have_attribute("aria-busy", "false")
    assert_accessible(page)
    page.screenshot(path=str(SCREENSHOTS / f"widget-{lang}.png"))
    # Escape closes the dialog and gives focus back to the bubble.
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(page.get_by_role("button", name=WORDS[lang]["open"])).to_be_focused()
    # No CSP refusal, no script error, and no HTML from the model (text only).
    assert not context.console_errors, context.console_errors  # type: ignore[attr-defined]
    assert (
        page.locator("[data-zhiku-widget]").evaluate(
            "host => host.shadowRoot.querySelectorAll('.zk-answer *:not(span):not(div):not(h3)"
            ":not(ol):not(li)').length"
        )
        == 0
    )
    context.close()


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_site_the_key_is_not_bound_to_is_refused_clearly(
    browser: Browser,
    server: ThreadServer,
    world: World,
    sites: tuple[HostSite, HostSite],
    lang: str,
) -> None:
    allowed, other = sites
    key = chat_key(world, allowed.origin)["key"]
    other.pages["/stolen.html"] = host_page(server.url, key, lang, "Not Acme")
    context = new_context(browser, other.origin, lang)
    page = context.new_page()
    page.goto("/stolen.html")
    open_widget(page, lang)
    ask(page, lang, "What is Project Nightjar?")
    expect(page.get_by_role("alert")).to_contain_text(WORDS[lang]["refused_origin"])
    assert_accessible(page)
    context.close()


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_revoked_key_stops_on_the_next_question(
    browser: Browser,
    server: ThreadServer,
    world: World,
    sites: tuple[HostSite, HostSite],
    lang: str,
) -> None:
    allowed, _ = sites
    issued = chat_key(world, allowed.origin)
    allowed.pages[f"/revoked-{lang}.html"] = host_page(server.url, issued["key"], lang, "Acme")
    context = new_context(browser, allowed.origin, lang)
    page = context.new_page()
    page.goto(f"/revoked-{lang}.html")
    open_widget(page, lang)
    with world.client("bob") as bob:
        assert bob.delete(f"/v1/me/keys/{issued['id']}").status_code == 204
    ask(page, lang, "What is Project Nightjar?")
    expect(page.get_by_role("alert")).to_contain_text(WORDS[lang]["bad_key"])
    context.close()


def test_widget_script_is_static_and_cacheable(server: ThreadServer) -> None:
    r = httpx.get(server.url + "/widget.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert "max-age" in r.headers["cache-control"] and "public" in r.headers["cache-control"]
    # Both languages' words are written in (as ASCII JSON escapes: any page encoding works).
    assert json.dumps("向知识库提问")[1:-1] in r.text and "Ask the knowledge base" in r.text
    assert "ZHIKU_WORDS" not in r.text and ".zk-bubble" in r.text
    again = httpx.get(server.url + "/widget.js", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_the_frame_takes_its_key_by_post_message_and_checks_the_embedder(
    browser: Browser,
    server: ThreadServer,
    world: World,
    sites: tuple[HostSite, HostSite],
    lang: str,
) -> None:
    """The iframe variant: the key never travels in an address. On a page the key is bound
    to, the frame's questions are accepted (the refusal below is the other page's)."""
    allowed, other = sites
    key = chat_key(world, allowed.origin)["key"]
    other.pages[f"/frame-{lang}.html"] = frame_host_page(server.url, key, lang)
    context = new_context(browser, other.origin, lang)
    page = context.new_page()
    page.goto(f"/frame-{lang}.html")
    frame = page.frame_locator("#zk")
    box = frame.get_by_role("textbox", name=WORDS[lang]["question"])
    expect(box).to_be_visible()
    box.fill("What is Project Nightjar?")
    box.press("Enter")
    expect(frame.get_by_role("alert")).to_contain_text(WORDS[lang]["refused_origin"])
    context.close()
    # Opened on its own, the frame says what it is for and asks nothing.
    context = new_context(browser, server.url, lang)
    page = context.new_page()
    page.goto(f"/widget/frame?lang={lang}")
    expect(page.get_by_role("status")).to_contain_text("embedded" if lang == "en" else "嵌入")
    assert_accessible(page)
    assert not context.console_errors, context.console_errors  # type: ignore[attr-defined]
    context.close()
