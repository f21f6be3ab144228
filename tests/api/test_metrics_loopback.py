"""/metrics without a token serves loopback clients: the whole of 127.0.0.0/8, not only
127.0.0.1 (a client bound to 127.0.0.2 was refused), over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from tests.live import ThreadServer
from tests.support import make_settings


@pytest.fixture(scope="module")
def server(pg_url, tmp_path_factory):  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("metrics-loopback"), database={"url": pg_url})
    with ThreadServer(settings) as srv:
        yield srv


@pytest.mark.parametrize("source", ["127.0.0.1", "127.0.0.2", "127.8.9.10"])
def test_metrics_are_served_to_any_loopback_source(server: ThreadServer, source: str) -> None:
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport) as client:
        r = client.get(server.url + "/metrics")
    assert r.status_code == 200, (r.status_code, r.text[:200])
    assert "zhiku_" in r.text
