"""Browser sign-in (``Settings.web``) and optional single sign-on (``Settings.oidc``)."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, model_validator

from core.addresses import is_loopback_host


class WebSettings(BaseModel):
    """Browser sign-in (``services.sign_in``): sessions, cookies, lockout (docs/security.md)."""

    # The organisation a sign-in without one goes to (the one first start creates). Sign-in
    # names an organisation because usernames are unique per organisation, not globally.
    default_tenant: str = "default"
    # A session ends after this long unused, and this long after sign-in whatever happens.
    idle_timeout_s: int = Field(default=8 * 3600, ge=60)
    session_lifetime_s: int = Field(default=7 * 24 * 3600, ge=60)
    # The cookie's Secure flag; None: on in production, off otherwise. Always on for a
    # request that arrived over HTTPS.
    cookie_secure: bool | None = None
    # Origins (``https://kb.example.com``) accepted on cookie requests that change things,
    # besides the request's own; for a reverse proxy that rewrites the Host header.
    allowed_origins: list[str] = []
    # Lockout: this many failed sign-ins for one account within ``lockout_window_s`` refuse
    # that account for ``lockout_s``, whatever the password; and this many failures from one
    # address within the window refuse that address.
    lockout_failures: int = Field(default=5, ge=1)
    lockout_window_s: int = Field(default=15 * 60, ge=1)
    lockout_s: int = Field(default=15 * 60, ge=1)
    address_failures: int = Field(default=50, ge=1)
    # How long a process keeps who an API key or a session belongs to (user, roles, groups),
    # so that a client's next requests skip the SQL of authentication; 0: look up every
    # request. A change made in the same process (a key revoked, a user disabled, roles or
    # groups changed, a sign-out) takes effect at once; one made in another process (the
    # command line, another API replica) within this many seconds.
    principal_cache_s: float = Field(default=1.0, ge=0, le=60)


class OidcSettings(BaseModel):
    """Optional single sign-on with an OpenID Connect provider (``services.oidc``, docs/sso.md):
    off while ``issuer`` is empty. People sign in at the provider and are mapped by e-mail to
    a user of ``tenant``."""

    # The provider's issuer URL (its ``/.well-known/openid-configuration`` is read from it);
    # HTTPS, except on a loopback address (tests, a provider on the same machine).
    issuer: str = Field(default="", max_length=500)
    client_id: str = Field(default="", max_length=500)
    client_secret: str = Field(default="", repr=False, max_length=2000)
    # How the client secret is sent to the token endpoint.
    token_auth_method: Literal["client_secret_basic", "client_secret_post"] = "client_secret_basic"
    # The button's words: "Sign in with <provider_name>".
    provider_name: str = Field(default="SSO", min_length=1, max_length=60)
    # The organisation whose users people are mapped to; empty: ``web.default_tenant``.
    tenant: str = Field(default="", max_length=200)
    scopes: list[str] = Field(default=["openid", "email", "profile"], max_length=20)
    # The callback URL registered at the provider (``https://kb.example.com/login/oidc/
    # callback``); empty: this server's own address as the browser reached it.
    redirect_uri: str = Field(default="", max_length=500)
    # Accept an e-mail the provider does not mark ``email_verified`` (only for a provider
    # that never sends the claim but owns the addresses it hands out).
    allow_unverified_email: bool = False
    # Create a member (no roles, no groups) for a verified e-mail no user has yet.
    create_users: bool = False
    # Signature algorithms accepted on ID tokens: asymmetric ones only.
    algorithms: list[Literal["RS256", "RS384", "RS512", "PS256", "ES256", "ES384"]] = [
        "RS256",
        "ES256",
    ]
    # Clock difference tolerated on ``exp``/``iat``/``nbf``.
    leeway_s: int = Field(default=60, ge=0, le=600)
    timeout_s: float = Field(default=10.0, gt=0, le=120)
    # How long the discovery document and the signing keys are kept (keys are read again at
    # once when a token names a key not seen yet: the provider rotated them).
    metadata_cache_s: int = Field(default=3600, ge=0)
    # How long a sign-in may spend at the provider.
    flow_timeout_s: int = Field(default=600, ge=60, le=3600)

    @property
    def enabled(self) -> bool:
        return bool(self.issuer)

    @model_validator(mode="after")
    def _check(self) -> OidcSettings:
        if not self.issuer:
            return self
        if not (self.client_id and self.client_secret):
            raise ValueError("oidc.client_id and oidc.client_secret are required with an issuer")
        for name, url in (("issuer", self.issuer), ("redirect_uri", self.redirect_uri)):
            if url and not _https_or_loopback(url):
                raise ValueError(f"oidc.{name} must be an https:// URL (or http on loopback)")
        if "openid" not in self.scopes:
            raise ValueError("oidc.scopes must include openid")
        return self


def _https_or_loopback(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and is_loopback_host(parts.hostname)
