"""The ID token's checks (``services.oidc_tokens``) with keys made here: a token passes only
when signed by the provider's key with an allowed asymmetric algorithm, for this client, by
this issuer, unexpired, with this browser's nonce. Also the sealed flow cookie."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from services.oidc_tokens import FlowSigner, OidcError, challenge_of, validate_id_token

ISSUER = "https://id.example.cn"
CLIENT = "zhiku-portal"
NONCE = "n-0S6_WzA2Mj"
NOW = 1_800_000_000
RSA = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"}, private=True)
EC = ECKey.generate_key("P-256", parameters={"kid": "ec-1"}, private=True)
PUBLISHED = KeySet.import_key_set(KeySet([RSA, EC]).as_dict(private=False))


def claims(**changes: Any) -> dict[str, Any]:
    base = {
        "iss": ISSUER,
        "aud": CLIENT,
        "sub": "248289761001",
        "nonce": NONCE,
        "iat": NOW - 10,
        "exp": NOW + 300,
        "email": "wang@example.cn",
        "email_verified": True,
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def sign(payload: dict[str, Any], key: Any = RSA, alg: str = "RS256", kid: str = "rsa-1") -> str:
    return jwt.encode({"alg": alg, "kid": kid}, payload, key)


def check(token: str, **overrides: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "issuer": ISSUER,
        "client_id": CLIENT,
        "nonce": NONCE,
        "algorithms": ["RS256", "ES256"],
        "leeway_s": 60,
        "now": NOW,
    }
    options.update(overrides)
    return validate_id_token(token, PUBLISHED, **options)


def b64(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def test_a_good_token_passes_with_rs256_and_es256() -> None:
    assert check(sign(claims()))["sub"] == "248289761001"
    assert check(sign(claims(), EC, "ES256", "ec-1"))["email"] == "wang@example.cn"
    # Several audiences are fine when the authorised party is us.
    assert check(sign(claims(aud=[CLIENT, "other"], azp=CLIENT)))["sub"]


@pytest.mark.parametrize(
    "token",
    [
        # signed by a key the provider never published (same kid)
        sign(claims(), RSAKey.generate_key(2048, parameters={"kid": "rsa-1"}, private=True)),
        # a valid signature, then the payload changed
        ".".join(
            [sign(claims()).split(".")[0], b64(claims(sub="admin")), sign(claims()).split(".")[2]]
        ),
    ],
    ids=["foreign-key", "changed-payload"],
)
def test_a_wrong_signature_is_refused(token: str) -> None:
    with pytest.raises(OidcError) as refused:
        check(token)
    assert refused.value.reason == "token"


@pytest.mark.parametrize(
    ("changes", "why"),
    [
        ({"aud": "another-client"}, "aud"),
        ({"aud": [CLIENT, "other"]}, "several audiences, no azp"),
        ({"aud": [CLIENT, "other"], "azp": "other"}, "azp"),
        ({"iss": "https://evil.example"}, "iss"),
        ({"exp": NOW - 61}, "expired beyond the leeway"),
        ({"iat": NOW + 3600}, "issued in the future"),
        ({"nonce": "another-browser"}, "nonce"),
        ({"nonce": None}, "no nonce"),
        ({"exp": None}, "no exp"),
        ({"iat": None}, "no iat"),
        ({"sub": None}, "no sub"),
        ({"sub": "x" * 256}, "oversized sub"),
    ],
)
def test_wrong_claims_are_refused(changes: dict[str, Any], why: str) -> None:
    with pytest.raises(OidcError) as refused:
        check(sign(claims(**changes)))
    assert refused.value.reason == "token", why


def test_a_little_clock_difference_is_tolerated() -> None:
    assert check(sign(claims(exp=NOW - 30)))["sub"]  # within the 60 s leeway


def test_alg_none_is_refused() -> None:
    unsigned = f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(claims())}."
    with pytest.raises(OidcError, match="not allowed"):
        check(unsigned)


def test_hmac_keyed_with_the_public_key_is_refused() -> None:
    """The classic confusion: HS256 keyed with the RSA public key's bytes."""
    signing_input = f"{b64({'alg': 'HS256', 'kid': 'rsa-1'})}.{b64(claims(sub='admin'))}"
    mac = hmac.new(RSA.as_pem(private=False), signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    with pytest.raises(OidcError, match="not allowed"):
        check(forged)
    with pytest.raises(OidcError):  # even if a careless setting listed HS256
        check(forged, algorithms=["RS256", "HS256"])


def test_an_algorithm_the_settings_do_not_allow_is_refused() -> None:
    with pytest.raises(OidcError, match="not allowed"):
        check(sign(claims(), EC, "ES256", "ec-1"), algorithms=["RS256"])


@pytest.mark.parametrize("token", ["", "a.b", "not-a-jwt", "x" * 20_000, "!!.??.**"])
def test_garbage_is_refused(token: str) -> None:
    with pytest.raises(OidcError) as refused:
        check(token)
    assert refused.value.reason == "token"


def test_the_flow_cookie_is_sealed_and_expires() -> None:
    clock = [1000.0]
    signer = FlowSigner("a-server-secret-of-enough-length-0123456789", 600, lambda: clock[0])
    flow = signer.new()
    sealed = signer.seal(flow)
    assert signer.open(sealed) == flow
    body, mac = sealed.split(".")
    assert signer.open(f"{body}.{mac[:-1]}{'A' if mac[-1] != 'A' else 'B'}") is None
    assert signer.open(f"{b64({'state': 'mine'})}.{mac}") is None
    other = FlowSigner("another-server-secret-of-enough-length-987654", 600, lambda: clock[0])
    assert other.open(sealed) is None
    clock[0] += 601
    assert signer.open(sealed) is None
    assert signer.open(None) is None and signer.open("x" * 5000) is None


def test_the_pkce_challenge_is_s256() -> None:
    # RFC 7636, appendix B
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert challenge_of(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
