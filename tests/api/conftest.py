"""The server of each hostile-request module (``tests/api/test_hostile_*.py``; settings in
``tests.api.hostile``): one per module, so one module's uploads never reach another's "nothing
to read" tenant."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.api.hostile import hostile_settings
from tests.api.world import World
from tests.live import ThreadServer


@pytest.fixture(scope="module")
def hostile_server(pg_url, tmp_path_factory) -> Iterator[ThreadServer]:  # type: ignore[no-untyped-def]
    with ThreadServer(hostile_settings(pg_url, tmp_path_factory.mktemp("hostile"))) as srv:
        yield srv


@pytest.fixture(scope="module")
def hostile_world(hostile_server: ThreadServer) -> World:
    return World(hostile_server)


@pytest.fixture(scope="module")
def hostile_zed(hostile_world: World) -> Iterator[httpx.Client]:
    """Tenant B's admin: nothing to read, so a clean question is answered "no context"."""
    with hostile_world.client("zed") as client:
        yield client
