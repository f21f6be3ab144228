"""A real browser for the portal's tests: Debian's Chromium driven by Playwright.

Playwright's own browser download cannot reach its CDN here, so it launches the system
Chromium by path (``scripts/test.sh`` installs it with apt). Helpers, not fixtures (those are
in ``tests/web/conftest.py``):

- ``launch(playwright)``: a headless Chromium with the flags this closed network needs.
- ``signed_in(browser, url, tenant, username, password, language)``: a fresh context (own
  cookies) already signed in, its pages speaking ``language``; console errors collected.
- ``assert_accessible(page)``: axe-core (vendored, ``tests/web/vendor``) finds no serious or
  critical WCAG 2.1 AA violation in the page as it is now.
- ``add_people(server, tenant, {...})``: a tenant with users who have passwords.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, BrowserContext, Page, Playwright

from core.db import identity, web_sessions
from core.db.models import utcnow
from core.db.session import transaction
from services import passwords
from tests.live import ThreadServer

PASSWORD = "一个足够长的密码 and words"
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
# As the machine's own check found: without the background-networking flags Chromium's
# connections are refused by this closed network, many at a time.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str:
    path = os.environ.get("ZHIKU_CHROMIUM") or shutil.which("chromium")
    if not path:
        raise RuntimeError(
            "Chromium is not installed: scripts/test.sh installs Debian's chromium package"
        )
    return path


def launch(playwright: Playwright) -> Browser:
    return playwright.chromium.launch(
        executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS
    )


class ConsoleErrors(list[str]):
    """Errors a page printed (a CSP refusal, an uncaught exception): a test asserts none."""

    def watch(self, page: Page) -> None:
        page.on("console", lambda m: self.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.append(str(e)))


def new_context(browser: Browser, url: str, language: str = "en") -> BrowserContext:
    context = browser.new_context(
        base_url=url,
        locale="zh-CN" if language.startswith("zh") else "en-GB",
        extra_http_headers={"Accept-Language": language},
    )
    context.set_default_timeout(30_000)
    context.console_errors = ConsoleErrors()  # type: ignore[attr-defined]
    context.on("page", context.console_errors.watch)  # type: ignore[attr-defined]
    return context


def signed_in(
    browser: Browser,
    url: str,
    tenant: str,
    username: str,
    password: str = PASSWORD,
    language: str = "en",
) -> BrowserContext:
    """A context whose cookie jar holds a session for ``username`` (signed in through the
    JSON API, which sets the same cookie the sign-in page does)."""
    context = new_context(browser, url, language)
    response = context.request.post(
        "/v1/auth/login",
        data={"tenant": tenant, "username": username, "password": password},
        headers={"Origin": url},
    )
    assert response.ok, response.text()
    return context


def assert_accessible(page: Page, *, include: str | None = None) -> None:
    """No serious or critical axe-core violation of WCAG 2.1 A/AA (evaluated through the
    DevTools protocol, which the page's CSP does not govern)."""
    page.evaluate(AXE.read_text(encoding="utf-8"))
    result: dict[str, Any] = page.evaluate(
        """async (include) => await axe.run(include || document, {
            runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
        })""",
        include,
    )
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert not bad, "accessibility violations:\n" + "\n".join(bad)


def add_people(server: ThreadServer, tenant: str, people: dict[str, bool]) -> str:
    """Create ``tenant`` with users (name -> is_admin) who sign in with ``PASSWORD``;
    returns the tenant's id."""
    with transaction(server.container.sessions) as s:
        tenant_id = identity.create_tenant(s, tenant).id
        for username, is_admin in people.items():
            user = identity.create_user(s, tenant_id, username, is_admin=is_admin)
            web_sessions.set_password_hash(
                s, user, passwords.hash_password(PASSWORD), now=utcnow(), actor_id=None
            )
    return tenant_id
