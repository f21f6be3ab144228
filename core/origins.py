"""Browser origins (``scheme://host[:port]``): one spelling for what a key allows and what a
browser sends, so that comparing them is comparing strings."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

# Longer than any real origin (a host name is at most 253 characters).
MAX_ORIGIN_CHARS = 300
_DEFAULT_PORTS = {"http": 80, "https": 443}
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


def normal_origin(value: str) -> str:
    """``value`` as a browser spells it in ``Origin``: lower case, no default port, no path.

    ValueError for anything else: another scheme, a path, a query, credentials, a host that is
    not ASCII (write it as ``xn--…``), a bad port, or a value over ``MAX_ORIGIN_CHARS``."""
    if len(value) > MAX_ORIGIN_CHARS:
        raise ValueError(f"an origin is at most {MAX_ORIGIN_CHARS} characters")
    if not value.isascii() or any(ch.isspace() for ch in value):
        raise ValueError("an origin is ASCII without spaces (write a Unicode host as xn--…)")
    parts = urlsplit(value.strip())
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise ValueError("an origin is http:// or https://")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in value:
        raise ValueError("an origin has no path, query or fragment: scheme://host[:port]")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise ValueError("an origin has no user name or password")
    try:
        port = parts.port
    except ValueError as exc:
        raise ValueError("an origin's port is a number from 1 to 65535") from exc
    host = (parts.hostname or "").lower()
    if not _valid_host(host):
        raise ValueError("an origin needs a host name or an IP address")
    shown = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        if port == 0:
            raise ValueError("an origin's port is a number from 1 to 65535")
        return f"{scheme}://{shown}:{port}"
    return f"{scheme}://{shown}"


def origin_or_none(value: str | None) -> str | None:
    """A request's ``Origin`` header, normalised; None when absent, ``null`` or malformed."""
    if not value or value == "null":
        return None
    try:
        return normal_origin(value)
    except ValueError:
        return None


def _valid_host(host: str) -> bool:
    if not host:
        return False
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        pass
    labels = host.removesuffix(".").split(".")
    return len(host) <= 253 and all(_LABEL.fullmatch(label) for label in labels)
