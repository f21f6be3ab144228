"""The sign-in page, sign-out, and the signed-in placeholder at ``/``.

Forms carry CSRF tokens: the sign-in form a pre-session one, double-submitted (a cookie and
the same value in a field), so no other site can sign a visitor into an account of its
choosing; sign-out the session's own token. ``RequestGuard`` has already checked a
changing request's origin and capped its body before these routes read it.
"""

from __future__ import annotations

import hmac
import secrets
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from api.cookies import (
    LOGIN_CSRF_COOKIE,
    clear_session_cookie,
    cookie,
    secure_for,
    set_session_cookie,
    sign_in_service,
    web_auth_of,
)
from api.web import i18n
from core.errors import TooManyRequests, Unauthenticated
from services.schemas.admin import MAX_NAME_CHARS
from services.schemas.auth import MAX_PASSWORD_FIELD_CHARS

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")

# Pages are ours alone: no framing, no inline script, forms post only here, nothing cached.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        " frame-ancestors 'none'; base-uri 'none'; form-action 'self'; object-src 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
LOGIN_CSRF_MAX_AGE_S = 2 * 3600
LANGUAGE_MAX_AGE_S = 365 * 24 * 3600


def language_of(request: Request, organisation: str | None = None) -> str:
    return i18n.pick(
        request.query_params.get("lang"),
        request.cookies.get(i18n.LANGUAGE_COOKIE),
        request.headers.get("accept-language"),
        organisation,
    )


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    chosen = context.get("tenant_settings")
    language = language_of(request, chosen.default_language if chosen else None)
    response = templates.TemplateResponse(
        request,
        template,
        {
            "lang": language,
            "t": lambda key, **values: i18n.text(language, key, **values),
            # A page's words for its script (``{{ words("chat_") | tojson }}``), by key prefix.
            "words": lambda prefix: {
                key: value
                for key, value in i18n.CATALOGUE[language].items()
                if key.startswith(prefix)
            },
            "languages": i18n.LANGUAGE_NAMES,  # an organisation's default language
            "switch": i18n.switch(language, request.headers.get("accept-language")),
            **context,
        },
        status_code=status_code,
        headers=PAGE_HEADERS,
    )
    if request.query_params.get("lang") in i18n.LANGUAGES:  # the switch is remembered
        response.set_cookie(
            i18n.LANGUAGE_COOKIE,
            language,
            max_age=LANGUAGE_MAX_AGE_S,
            path="/",
            samesite="lax",
            secure=secure_for(request),
        )
    return response


def login_form(request: Request, status_code: int = 200, **context: Any) -> HTMLResponse:
    """The form with a fresh pre-session CSRF token, in a cookie and in a field."""
    token = secrets.token_urlsafe(32)
    context.setdefault("tenant", sign_in_service(request.scope).web.default_tenant)
    oidc = request.app.state.runtime.services.oidc  # single sign-on (api.web.oidc), if set up
    context.setdefault("oidc_provider", oidc.provider_name if oidc is not None else None)
    response = render(request, "login.html", status_code, csrf_token=token, **context)
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=LOGIN_CSRF_MAX_AGE_S,
        path="/login",
        httponly=True,
        samesite="strict",
        secure=secure_for(request),
    )
    return response


@router.get("/login")
def login_page(request: Request) -> Response:
    if web_auth_of(request) is not None:
        return RedirectResponse("/", status_code=303)
    return login_form(request, signed_out=request.query_params.get("signed_out") == "1")


@router.post("/login")
async def login_submit(request: Request) -> Response:
    form = await request.form()
    field = _field(form, "csrf_token", 100)
    tenant = _field(form, "tenant", MAX_NAME_CHARS).strip()
    username = _field(form, "username", MAX_NAME_CHARS).strip()
    password = _field(form, "password", MAX_PASSWORD_FIELD_CHARS)
    expected = cookie(request.scope, LOGIN_CSRF_COOKIE)
    if not (expected and field and hmac.compare_digest(expected, field)):
        return login_form(request, 403, error="form_expired", tenant=tenant, username=username)
    service = sign_in_service(request.scope)
    try:
        signed = await run_in_threadpool(
            service.sign_in,
            tenant or None,
            username,
            password,
            ip=request.client.host if request.client else "",
            user_agent=request.headers.get("user-agent", ""),
        )
    except TooManyRequests as exc:
        response = login_form(
            request,
            429,
            error="locked",
            minutes=max(1, -(-exc.retry_after_s // 60)),
            tenant=tenant,
            username=username,
        )
        response.headers["Retry-After"] = str(exc.retry_after_s)
        return response
    except Unauthenticated:
        return login_form(request, 401, error="refused", tenant=tenant, username=username)
    response = RedirectResponse("/", status_code=303, headers={"Cache-Control": "no-store"})
    set_session_cookie(
        response, signed.token, signed.session.expires_at, secure=secure_for(request)
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


async def signed_in_page(
    request: Request, template: str, *, admin_only: bool = False, **context: Any
) -> Response:
    """A portal page for the signed-in user (``session`` in the template: the user, their
    roles, the CSRF token its scripts send as ``X-CSRF-Token``), or the sign-in page for
    anyone else; ``admin_only`` pages answer 403 to the rest."""
    auth = web_auth_of(request)
    if auth is None:
        return RedirectResponse("/login", status_code=303)
    service = sign_in_service(request.scope)
    session = await run_in_threadpool(service.describe, auth.caller, auth.token)
    # The organisation's settings: its display name, language and upload default.
    admin = request.app.state.runtime.services.admin
    chosen = await run_in_threadpool(admin.settings_in_force, auth.caller.principal.tenant_id)
    context.update(tenant_settings=chosen, org_name=chosen.display_name or session.tenant_name)
    if admin_only and not session.user.is_admin:
        return render(request, "error.html", 403, message="not_allowed", session=session, **context)
    return render(request, template, session=session, **context)


@router.get("/")
async def home(request: Request) -> Response:
    return await signed_in_page(request, "home.html")


@router.post("/logout")
async def logout(request: Request) -> Response:
    auth = web_auth_of(request)
    if auth is None:  # a key, not a session: nothing to sign out of here
        return RedirectResponse("/login", status_code=303)
    form = await request.form()
    service = sign_in_service(request.scope)
    if not service.csrf_matches(auth.token, _field(form, "csrf_token", 100) or None):
        return render(request, "error.html", 403, message="form_expired")
    await run_in_threadpool(service.sign_out, auth.caller.session_id)
    response = RedirectResponse("/login?signed_out=1", status_code=303)
    clear_session_cookie(response, secure=secure_for(request))
    return response


def _field(form: Any, name: str, limit: int) -> str:
    """A text field, '' when absent, not text (a file) or longer than ``limit``."""
    value = form.get(name)
    return value if isinstance(value, str) and len(value) <= limit else ""
