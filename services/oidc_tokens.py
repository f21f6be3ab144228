"""OpenID Connect without a session: the provider's metadata and keys (cached), PKCE, the
signed flow cookie, and the ID token's checks. ``services.oidc`` strings them together.

An ID token is accepted only when signed by one of the provider's published keys with an
asymmetric algorithm the settings allow (never ``none``, never an HMAC keyed with a public
key), issued by the configured issuer, for this client, unexpired, and carrying the nonce
this browser's sign-in started with.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from core.addresses import is_loopback_host

# The reasons a sign-in is refused; the sign-in page words each (``oidc_error_<reason>``).
REASONS = frozenset(
    {
        "state",  # no flow cookie, a forged or stale one, or a state that differs
        "provider",  # the provider could not be reached or answered nonsense
        "denied",  # the person cancelled at the provider, or it refused them
        "token",  # the code or the ID token was refused
        "no_email",
        "unverified_email",
        "unknown_user",
        "disabled",
        "subject_mismatch",
    }
)
# Bounds on what a provider or a browser may hand us.
MAX_DOCUMENT_BYTES = 512 * 1024
MAX_TOKEN_CHARS = 16 * 1024
MAX_PARAM_CHARS = 2048
MAX_EMAIL_CHARS = 320
MAX_SUBJECT_CHARS = 255


class OidcError(Exception):
    """A refused sign-in; ``reason`` is one of ``REASONS`` (the message is for logs only)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        assert reason in REASONS, reason
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None


def endpoint_ok(url: object) -> bool:
    """An endpoint we will talk to: https, or http on a loopback address."""
    if not isinstance(url, str) or len(url) > MAX_PARAM_CHARS:
        return False
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return True
    return parts.scheme == "http" and is_loopback_host(parts.hostname)


def get_json(client: httpx.Client, url: str, **kwargs: Any) -> dict[str, Any]:
    """A JSON object from ``url``, or OidcError("provider")."""
    try:
        response = client.get(url, **kwargs)
    except httpx.HTTPError as exc:
        raise OidcError("provider", f"GET {url}: {type(exc).__name__}") from exc
    return json_object(response, "provider")


def json_object(response: httpx.Response, reason: str) -> dict[str, Any]:
    if response.status_code >= 500:
        raise OidcError("provider", f"HTTP {response.status_code} from {response.url}")
    if response.status_code >= 400:
        raise OidcError(reason, f"HTTP {response.status_code} from {response.url}")
    if len(response.content) > MAX_DOCUMENT_BYTES:
        raise OidcError("provider", f"oversized answer from {response.url}")
    try:
        value = response.json()
    except ValueError as exc:
        raise OidcError("provider", f"not JSON from {response.url}") from exc
    if not isinstance(value, dict):
        raise OidcError("provider", f"not a JSON object from {response.url}")
    return value


class ProviderCache:
    """The discovery document and the signing keys, each kept ``ttl_s`` seconds; the keys
    are read again (at most once a minute) when a token names a key we do not have."""

    REFETCH_AFTER_S = 60.0

    def __init__(self, issuer: str, ttl_s: float, clock: Callable[[], float] = time.monotonic):
        self.issuer = issuer
        self._ttl = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._metadata: tuple[float, ProviderMetadata] | None = None
        self._keys: tuple[float, KeySet] | None = None

    def metadata(self, client: httpx.Client) -> ProviderMetadata:
        with self._lock:
            if self._metadata and self._clock() - self._metadata[0] < self._ttl:
                return self._metadata[1]
        url = self.issuer.rstrip("/") + "/.well-known/openid-configuration"
        document = get_json(client, url)
        if document.get("issuer") != self.issuer:  # OpenID Connect Discovery 1.0, 4.3
            raise OidcError("provider", "the discovery document names another issuer")
        names = ("authorization_endpoint", "token_endpoint", "jwks_uri")
        if not all(endpoint_ok(document.get(name)) for name in names):
            raise OidcError("provider", "the discovery document lacks a usable endpoint")
        userinfo = document.get("userinfo_endpoint")
        metadata = ProviderMetadata(
            issuer=self.issuer,
            authorization_endpoint=document["authorization_endpoint"],
            token_endpoint=document["token_endpoint"],
            jwks_uri=document["jwks_uri"],
            userinfo_endpoint=userinfo if endpoint_ok(userinfo) else None,
        )
        with self._lock:
            self._metadata = (self._clock(), metadata)
        return metadata

    def keys(self, client: httpx.Client, *, kid: str | None = None) -> KeySet:
        with self._lock:
            cached = self._keys
        age = self._clock() - cached[0] if cached else None
        fresh = cached is not None and age is not None and age < self._ttl
        if fresh and cached is not None:
            known = kid is None or any(key.kid == kid for key in cached[1].keys)
            if known or (age is not None and age < self.REFETCH_AFTER_S):
                return cached[1]
        document = get_json(client, self.metadata(client).jwks_uri)
        try:
            # Only keys for signatures, and never a symmetric one: a JWKS carries public keys.
            published = [
                key
                for key in document.get("keys", [])[:50]
                if isinstance(key, dict) and key.get("kty") in ("RSA", "EC")
                if key.get("use", "sig") == "sig"
            ]
            keys = KeySet.import_key_set({"keys": published})
        except (JoseError, ValueError, TypeError) as exc:
            raise OidcError("provider", "the provider's keys could not be read") from exc
        with self._lock:
            self._keys = (self._clock(), keys)
        return keys


# --- PKCE and the flow cookie


@dataclass(frozen=True)
class Flow:
    """One sign-in in progress, kept in the browser's HTTP-only cookie, signed."""

    state: str
    nonce: str
    verifier: str
    started: int


class FlowSigner:
    """Seals a ``Flow`` into a cookie value with an HMAC under a key derived from the
    server's secret; a changed, foreign or stale cookie opens to None."""

    MAX_COOKIE_CHARS = 1024

    def __init__(self, secret: str, lifetime_s: int, clock: Callable[[], float] = time.time):
        self._key = hmac.new(secret.encode(), b"zhiku-oidc-flow-v1", hashlib.sha256).digest()
        self._lifetime = lifetime_s
        self._clock = clock

    def new(self) -> Flow:
        return Flow(
            state=secrets.token_urlsafe(32),
            nonce=secrets.token_urlsafe(32),
            verifier=secrets.token_urlsafe(48),  # PKCE (RFC 7636): 64 characters
            started=int(self._clock()),
        )

    def seal(self, flow: Flow) -> str:
        payload = json.dumps([flow.state, flow.nonce, flow.verifier, flow.started])
        body = base64.urlsafe_b64encode(payload.encode()).rstrip(b"=").decode()
        return f"{body}.{self._mac(body)}"

    def open(self, value: str | None) -> Flow | None:
        if not value or len(value) > self.MAX_COOKIE_CHARS or value.count(".") != 1:
            return None
        body, mac = value.split(".")
        if not hmac.compare_digest(self._mac(body), mac):
            return None
        try:
            state, nonce, verifier, started = json.loads(
                base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            )
        except (ValueError, TypeError):
            return None
        if not isinstance(started, int) or not 0 <= self._clock() - started <= self._lifetime:
            return None
        return Flow(str(state), str(nonce), str(verifier), started)

    def _mac(self, body: str) -> str:
        digest = hmac.new(self._key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def challenge_of(verifier: str) -> str:
    """PKCE's S256 code challenge of a verifier."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


# --- the ID token


def token_header(token: str) -> dict[str, Any]:
    """The JOSE header, read before any key is chosen (to refuse bad algorithms early)."""
    try:
        head = token.split(".")[0]
        value = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    except (ValueError, IndexError) as exc:
        raise OidcError("token", "the ID token is not a JWS") from exc
    if not isinstance(value, dict):
        raise OidcError("token", "the ID token's header is not an object")
    return value


def validate_id_token(
    token: str,
    keys: KeySet,
    *,
    issuer: str,
    client_id: str,
    nonce: str,
    algorithms: Collection[str],
    leeway_s: int,
    now: int | None = None,
) -> dict[str, Any]:
    """The ID token's claims once every check passed (OpenID Connect Core 3.1.3.7), or
    OidcError("token")."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        raise OidcError("token", "no usable ID token")
    if token.count(".") != 2:
        raise OidcError("token", "the ID token is not a compact JWS")
    alg = token_header(token).get("alg")
    if alg not in algorithms:  # "none" and every HS* are never in the allowed list
        raise OidcError("token", f"ID token algorithm {alg!r} is not allowed")
    try:
        decoded = jwt.decode(token, keys, algorithms=list(algorithms))
    except JoseError as exc:
        raise OidcError("token", f"ID token signature: {type(exc).__name__}") from exc
    claims = dict(decoded.claims)
    registry = jwt.JWTClaimsRegistry(
        now=now,
        leeway=leeway_s,
        iss={"essential": True, "value": issuer},
        aud={"essential": True, "value": client_id},
        sub={"essential": True},
        exp={"essential": True},
        iat={"essential": True},
        nonce={"essential": True, "value": nonce},
    )
    try:
        registry.validate(claims)
    except JoseError as exc:
        raise OidcError("token", f"ID token claims: {type(exc).__name__} {exc}") from exc
    audience = claims["aud"]
    if isinstance(audience, list) and len(audience) > 1 and claims.get("azp") != client_id:
        raise OidcError("token", "a token for several audiences names another party")
    issued = claims["iat"]
    current = int(time.time()) if now is None else now
    if not isinstance(issued, int | float) or issued > current + leeway_s:
        raise OidcError("token", "the ID token was issued in the future")
    sub = claims["sub"]
    if not isinstance(sub, str) or not 0 < len(sub) <= MAX_SUBJECT_CHARS:
        raise OidcError("token", "the ID token's subject is unusable")
    return claims
