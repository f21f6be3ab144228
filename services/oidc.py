"""Single sign-on with OpenID Connect: the authorization code flow with PKCE (S256), a
``state`` and a ``nonce`` kept in a signed, HTTP-only cookie of the browser that started it.

The provider vouches for an e-mail; it names a user of the configured organisation (or a new
member, when ``oidc.create_users`` is on). The provider's ``sub`` is recorded at the first
sign-in and must be the same at every later one: an address handed to another account at
the provider does not open the old account here. The session that follows is the one a
password opens (``SignInService.open_session``), recorded as ``auth.login``; a refusal the
provider vouched for is ``auth.login_failed`` with its reason (never the e-mail).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from core.db import identity
from core.db import oidc as store
from core.db.models import User
from core.db.session import Session, SessionFactory, transaction
from core.db.web_sessions import find_tenant
from core.settings_sign_in import OidcSettings
from services.oidc_tokens import (
    MAX_EMAIL_CHARS,
    MAX_PARAM_CHARS,
    FlowSigner,
    OidcError,
    ProviderCache,
    challenge_of,
    json_object,
    token_header,
    validate_id_token,
)
from services.sign_in import SignedIn, SignInService

log = logging.getLogger(__name__)

__all__ = ["OidcError", "OidcService", "Started"]


@dataclass(frozen=True)
class Started:
    """Where to send the browser, and the flow cookie to set on it."""

    url: str
    cookie: str


@dataclass(frozen=True)
class _Refusal:
    error: OidcError


class OidcService:
    def __init__(
        self,
        sessions: SessionFactory,
        settings: OidcSettings,
        *,
        default_tenant: str,
        secret_key: str,
        sign_in: SignInService,
    ) -> None:
        self._sessions = sessions
        self.settings = settings
        self._tenant = settings.tenant or default_tenant
        self._sign_in = sign_in
        self._cache = ProviderCache(settings.issuer, settings.metadata_cache_s)
        self._flows = FlowSigner(secret_key, settings.flow_timeout_s)

    @property
    def provider_name(self) -> str:
        return self.settings.provider_name

    @property
    def flow_lifetime_s(self) -> int:
        return self.settings.flow_timeout_s

    def _client(self) -> httpx.Client:
        return httpx.Client(timeout=self.settings.timeout_s, follow_redirects=False)

    # --- the two legs

    def begin(self, redirect_uri: str) -> Started:
        """The provider's authorization URL for a new flow (OidcError("provider") when the
        provider cannot be reached)."""
        with self._client() as client:
            metadata = self._cache.metadata(client)
        flow = self._flows.new()
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.settings.client_id,
                "redirect_uri": self.settings.redirect_uri or redirect_uri,
                "scope": " ".join(self.settings.scopes),
                "state": flow.state,
                "nonce": flow.nonce,
                "code_challenge": challenge_of(flow.verifier),
                "code_challenge_method": "S256",
            },
            quote_via=quote,
        )
        separator = "&" if "?" in metadata.authorization_endpoint else "?"
        return Started(
            f"{metadata.authorization_endpoint}{separator}{query}", self._flows.seal(flow)
        )

    def finish(
        self,
        cookie: str | None,
        params: Mapping[str, str],
        redirect_uri: str,
        *,
        ip: str,
        user_agent: str,
    ) -> SignedIn:
        """The provider sent the browser back: check the flow, exchange the code, check the
        ID token, map the person to a user and open their session; else OidcError."""
        flow = self._flows.open(cookie)
        state = params.get("state", "")
        if flow is None or not secrets.compare_digest(flow.state.encode(), state.encode()):
            raise OidcError("state", "no flow cookie, or another state")
        returned_issuer = params.get("iss")
        if returned_issuer is not None and returned_issuer != self.settings.issuer:
            raise OidcError("token", "the answer names another issuer (RFC 9207)")
        if "error" in params:
            denied = params["error"] in ("access_denied", "login_required", "consent_required")
            raise OidcError("denied" if denied else "provider", params["error"][:100])
        code = params.get("code", "")
        if not code or len(code) > MAX_PARAM_CHARS:
            raise OidcError("token", "no usable code")
        with self._client() as client:
            claims = self._claims(client, code, flow.verifier, flow.nonce, redirect_uri)
        with transaction(self._sessions) as session:
            outcome = self._sign_in_person(session, claims, ip=ip, user_agent=user_agent)
        if isinstance(outcome, _Refusal):
            raise outcome.error
        return outcome

    # --- the provider

    def _claims(
        self, client: httpx.Client, code: str, verifier: str, nonce: str, redirect_uri: str
    ) -> dict[str, Any]:
        metadata = self._cache.metadata(client)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.settings.redirect_uri or redirect_uri,
            "code_verifier": verifier,
        }
        auth: tuple[str, str] | None = None
        if self.settings.token_auth_method == "client_secret_post":
            form |= {
                "client_id": self.settings.client_id,
                "client_secret": self.settings.client_secret,
            }
        else:  # RFC 6749 2.3.1: both form-encoded before the Basic scheme
            auth = (
                quote(self.settings.client_id, safe=""),
                quote(self.settings.client_secret, safe=""),
            )
        try:
            response = client.post(
                metadata.token_endpoint,
                data=form,
                auth=auth,
                headers={"Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise OidcError("provider", f"token endpoint: {type(exc).__name__}") from exc
        tokens = json_object(response, "token")
        id_token = tokens.get("id_token")
        if not isinstance(id_token, str):
            raise OidcError("token", "no ID token in the token response")
        keys = self._cache.keys(client, kid=_kid_of(id_token))
        claims = validate_id_token(
            id_token,
            keys,
            issuer=self.settings.issuer,
            client_id=self.settings.client_id,
            nonce=nonce,
            algorithms=self.settings.algorithms,
            leeway_s=self.settings.leeway_s,
        )
        access_token = tokens.get("access_token")
        if "email" not in claims and isinstance(access_token, str) and metadata.userinfo_endpoint:
            claims = self._with_userinfo(client, metadata.userinfo_endpoint, access_token, claims)
        return claims

    def _with_userinfo(
        self, client: httpx.Client, url: str, access_token: str, claims: dict[str, Any]
    ) -> dict[str, Any]:
        """The e-mail from the UserInfo endpoint, when the ID token does not carry it; its
        ``sub`` must be the ID token's (OpenID Connect Core 5.3.2)."""
        try:
            response = client.get(
                url,
                headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
            )
        except httpx.HTTPError as exc:
            raise OidcError("provider", f"userinfo: {type(exc).__name__}") from exc
        info = json_object(response, "token")
        if info.get("sub") != claims["sub"]:
            raise OidcError("token", "UserInfo describes another subject")
        merged = dict(claims)
        for name in ("email", "email_verified", "name", "preferred_username"):
            if name in info:
                merged[name] = info[name]
        return merged

    # --- the person

    def _sign_in_person(
        self, session: Session, claims: dict[str, Any], *, ip: str, user_agent: str
    ) -> SignedIn | _Refusal:
        tenant = find_tenant(session, self._tenant)
        if tenant is None:
            log.warning("single sign-on: organisation %r does not exist", self._tenant)
            return _Refusal(OidcError("unknown_user", "no such organisation"))
        issuer, subject = self.settings.issuer, claims["sub"]
        linked = store.identity_of_subject(session, tenant.id, issuer, subject)
        user: User | None
        if linked is not None:
            user = session.get(User, linked.user_id)
        else:
            found = self._user_for_email(session, tenant.id, claims)
            if isinstance(found, _Refusal):
                return self._refuse(session, tenant.id, None, ip, found)
            user = found
        if user is None or user.tenant_id != tenant.id:
            return self._refuse(session, tenant.id, None, ip, _Refusal(OidcError("unknown_user")))
        if user.disabled_at is not None:
            return self._refuse(session, tenant.id, user, ip, _Refusal(OidcError("disabled")))
        if linked is None:
            other = store.identity_of_user(session, user, issuer)
            if other is not None and other.subject != subject:
                refusal = _Refusal(OidcError("subject_mismatch", "the e-mail moved to another sub"))
                return self._refuse(session, tenant.id, user, ip, refusal)
            linked = other or store.link(session, user, issuer, subject)
        store.touch(linked)
        return self._sign_in.open_session(session, user, tenant.name, ip=ip, user_agent=user_agent)

    def _user_for_email(
        self, session: Session, tenant_id: str, claims: dict[str, Any]
    ) -> User | _Refusal:
        email = claims.get("email")
        if not isinstance(email, str) or "@" not in email or len(email) > MAX_EMAIL_CHARS:
            return _Refusal(OidcError("no_email"))
        verified = claims.get("email_verified") is True
        if not verified and not self.settings.allow_unverified_email:
            return _Refusal(OidcError("unverified_email"))
        user = store.find_user_by_email(session, tenant_id, email)
        if user is not None:
            return user
        if not self.settings.create_users:
            return _Refusal(OidcError("unknown_user"))
        name = email if len(email) <= 200 else email[:191]
        if store.user_named(session, tenant_id, name) is not None:
            name = f"{name[:191]}-{secrets.token_hex(4)}"
        return identity.create_user(session, tenant_id, name, email=email)

    def _refuse(
        self, session: Session, tenant_id: str, user: User | None, ip: str, refusal: _Refusal
    ) -> _Refusal:
        store.record_refusal(session, tenant_id, user, ip=ip, reason=refusal.error.reason)
        log.info("single sign-on refused from %s: %s", ip or "?", refusal.error.reason)
        return refusal


def _kid_of(token: str) -> str | None:
    kid = token_header(token).get("kid")
    return kid if isinstance(kid, str) else None
