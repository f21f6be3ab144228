"""Loopback is a network, not a literal: 127.0.0.0/8, ``::1`` and IPv4-mapped loopback
(``::ffff:127.0.0.1``, what a dual-stack listener reports for an IPv4 client) are this
machine; other addresses, names and nonsense are not."""

from __future__ import annotations

import pytest

from core.addresses import is_loopback_address, is_loopback_host
from core.metrics import scrape_refusal
from core.settings_sign_in import OidcSettings

LOOPBACK = [
    "127.0.0.1",
    "127.0.0.2",
    "127.255.255.254",
    "::1",
    "0:0:0:0:0:0:0:1",
    "::ffff:127.0.0.1",
    "::ffff:7f00:2",
    "[::1]",
]
NOT_LOOPBACK = [
    "10.0.0.1",
    "192.168.1.10",
    "203.0.113.9",
    "::ffff:203.0.113.9",
    "2001:db8::1",
    "::",
    "0.0.0.0",
    "localhost",
    "127.0.0.1.example.com",
    "",
    None,
    "not an ip",
]


@pytest.mark.parametrize("host", LOOPBACK)
def test_loopback_addresses(host: str) -> None:
    assert is_loopback_address(host)
    assert is_loopback_host(host)
    assert scrape_refusal("", None, host, proxied=False) is None


@pytest.mark.parametrize("host", NOT_LOOPBACK)
def test_other_addresses(host: str | None) -> None:
    assert not is_loopback_address(host)
    assert scrape_refusal("", None, host, proxied=False) is not None


def test_a_url_host_may_be_localhost() -> None:
    assert is_loopback_host("localhost")
    assert is_loopback_host("LOCALHOST.")
    assert not is_loopback_host("localhost.example.com")


@pytest.mark.parametrize(
    ("issuer", "accepted"),
    [
        ("http://127.0.0.2:9000/realms/corp", True),
        ("http://[::1]:9000/", True),
        ("http://[::ffff:127.0.0.1]:9000/", True),
        ("http://localhost:9000/", True),
        ("https://sso.example.com/", True),
        ("http://sso.example.com/", False),
        ("http://10.0.0.5:9000/", False),
    ],
)
def test_oidc_takes_plain_http_on_loopback_only(issuer: str, accepted: bool) -> None:
    spec = {"issuer": issuer, "client_id": "zhiku", "client_secret": "s" * 32}
    if accepted:
        assert OidcSettings(**spec).issuer == issuer
    else:
        with pytest.raises(ValueError, match="https"):
            OidcSettings(**spec)
