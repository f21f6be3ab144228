"""Optional single sign-on with OpenID Connect (code flow with PKCE), users mapped by e-mail.

``GET /login/oidc`` sends the browser to the provider with a new flow (its ``state``, ``nonce``
and PKCE verifier sealed in an HTTP-only, SameSite=Lax cookie scoped to ``/login/oidc``);
``GET /login/oidc/callback`` finishes it (``services.oidc``) and sets the same session cookie
as a password sign-in. Every refusal is the sign-in page with a plain message in the
visitor's language: never a 500, never a trace.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.cookies import cookie, secure_for, set_session_cookie, web_auth_of
from api.web.pages import login_form
from services.oidc import OidcError, OidcService
from services.oidc_tokens import MAX_PARAM_CHARS

log = logging.getLogger(__name__)

router = APIRouter(include_in_schema=False)

FLOW_COOKIE = "zhiku_oidc_flow"
FLOW_PATH = "/login/oidc"
# What the provider may send back; nothing else is read.
_CALLBACK_PARAMS = ("code", "state", "iss", "error")
# A refused sign-in's status: the browser's flow, the provider, or the person.
_STATUS = {"state": 400, "provider": 502, "token": 400}


def _service(request: Request) -> OidcService | None:
    service: OidcService | None = request.app.state.runtime.services.oidc
    return service


def _callback_url(request: Request) -> str:
    return str(request.url_for("oidc_callback"))


def _refused(request: Request, reason: str) -> Response:
    response = login_form(request, _STATUS.get(reason, 401), error=f"oidc_error_{reason}")
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH, secure=secure_for(request), httponly=True)
    return response


@router.get("/login/oidc")
async def oidc_start(request: Request) -> Response:
    service = _service(request)
    if service is None:
        return login_form(request, 404, error="oidc_error_not_configured")
    if web_auth_of(request) is not None:
        return RedirectResponse("/", status_code=303)
    try:
        started = await run_in_threadpool(service.begin, _callback_url(request))
    except OidcError as exc:
        log.warning("single sign-on could not start: %s", exc)
        return _refused(request, exc.reason)
    response = RedirectResponse(started.url, status_code=303, headers={"Cache-Control": "no-store"})
    response.set_cookie(
        FLOW_COOKIE,
        started.cookie,
        max_age=service.flow_lifetime_s,
        path=FLOW_PATH,
        httponly=True,
        samesite="lax",  # sent on the provider's top-level redirect back, not on cross-site posts
        secure=secure_for(request),
    )
    return response


@router.get("/login/oidc/callback", name="oidc_callback")
async def oidc_callback(request: Request) -> Response:
    service = _service(request)
    if service is None:
        return login_form(request, 404, error="oidc_error_not_configured")
    params = {
        name: value
        for name in _CALLBACK_PARAMS
        if (value := request.query_params.get(name)) is not None and len(value) <= MAX_PARAM_CHARS
    }
    try:
        signed = await run_in_threadpool(
            service.finish,
            cookie(request.scope, FLOW_COOKIE),
            params,
            _callback_url(request),
            ip=request.client.host if request.client else "",
            user_agent=request.headers.get("user-agent", ""),
        )
    except OidcError as exc:
        log.info("single sign-on refused: %s", exc)
        return _refused(request, exc.reason)
    except Exception:  # the database or a bug: still a page, never a trace
        log.exception("single sign-on failed")
        return _refused(request, "provider")
    response = RedirectResponse("/", status_code=303, headers={"Cache-Control": "no-store"})
    set_session_cookie(
        response, signed.token, signed.session.expires_at, secure=secure_for(request)
    )
    response.delete_cookie(FLOW_COOKIE, path=FLOW_PATH, secure=secure_for(request), httponly=True)
    return response
