"""Browser sign-in over the JSON API: sign in, who am I (and the CSRF token), sign out, and a
new password. The pages (``api.web``) use the same service; a portal script uses these.

A session cookie authenticates ``/v1/*`` like a key (``api.limits.RequestGuard``); requests
that change something then need ``X-CSRF-Token``, which sign-in and ``/v1/auth/session``
return. Sign-in answers the same for every wrong part, and 429 with ``Retry-After`` while an
account or address is locked (docs/security.md, "Browser sessions").
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from api.cookies import clear_session_cookie, secure_for, set_session_cookie, web_auth_of
from api.deps import CurrentPrincipal, SignIn
from api.errors import GUARDED, error_responses
from core.errors import InvalidInput
from services.schemas.auth import PasswordChange, SessionPublic, SignInRequest

router = APIRouter(tags=["auth"])

# A session's token and CSRF token travel in these answers: no cache may keep them.
NO_STORE = {"Cache-Control": "no-store"}


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


@router.post(
    "/v1/auth/login",
    response_model=SessionPublic,
    operation_id="auth-login",
    responses=error_responses(400, 401, 403, 413, 422, 429),
)
def login(
    service: SignIn, body: SignInRequest, request: Request, response: Response
) -> SessionPublic:
    """Sign in with organisation (optional: the installation's default), username and
    password: sets the ``zhiku_session`` cookie and returns the user and CSRF token."""
    signed = service.sign_in(
        body.tenant,
        body.username,
        body.password,
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent", ""),
    )
    set_session_cookie(
        response, signed.token, signed.session.expires_at, secure=secure_for(request)
    )
    response.headers.update(NO_STORE)
    return signed.session


@router.get(
    "/v1/auth/session",
    response_model=SessionPublic,
    operation_id="auth-session",
    responses={**GUARDED, **error_responses(400)},
)
def current_session(
    service: SignIn, principal: CurrentPrincipal, request: Request, response: Response
) -> SessionPublic:
    """The browser session's user and its CSRF token (400 for a request with an API key)."""
    auth = web_auth_of(request)
    if auth is None:
        raise InvalidInput("this request carries an API key, not a browser session")
    response.headers.update(NO_STORE)
    return service.describe(auth.caller, auth.token)


@router.post(
    "/v1/auth/logout",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="auth-logout",
    responses={**GUARDED, **error_responses(403)},
)
def logout(service: SignIn, principal: CurrentPrincipal, request: Request) -> Response:
    """End the browser session (its cookie is refused from now on); nothing to end for a
    request with an API key."""
    auth = web_auth_of(request)
    if auth is not None:
        service.sign_out(auth.caller.session_id)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    clear_session_cookie(response, secure=secure_for(request))
    return response


@router.post(
    "/v1/me/password",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="me-password",
    responses={**GUARDED, **error_responses(403, 409, 422, 429)},
)
def change_password(
    service: SignIn, principal: CurrentPrincipal, body: PasswordChange, request: Request
) -> Response:
    """A new password after the current one (at least 12 characters, not the username).
    Every other session of the user ends; this one stays."""
    auth = web_auth_of(request)
    service.change_password(
        principal,
        body.current_password,
        body.new_password,
        keep_session=auth.caller.session_id if auth is not None else None,
    )
    return Response(status_code=status.HTTP_204_NO_CONTENT)
