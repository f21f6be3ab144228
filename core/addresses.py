"""Whether an address or a URL's host is this machine (loopback), one way everywhere.

Comparing with literals (``"127.0.0.1"``) missed the rest of 127.0.0.0/8, ``::1`` written
another way, and IPv4-mapped IPv6 (``::ffff:127.0.0.1``), which a dual-stack listener reports
for an IPv4 client; ``ipaddress`` knows them all, once the mapped form is unwrapped (Python
before 3.13 calls ``::ffff:127.0.0.1`` not loopback).
"""

from __future__ import annotations

import ipaddress


def is_loopback_address(host: str | None) -> bool:
    """``host`` is an IP address on the loopback network; a name (even ``localhost``) or
    anything unparsable is not: a client's address is never a name."""
    if not host:
        return False
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def is_loopback_host(host: str | None) -> bool:
    """A URL's host that reaches this machine: a loopback address, or ``localhost``."""
    if host is not None and host.lower().rstrip(".") == "localhost":
        return True
    return is_loopback_address(host)
