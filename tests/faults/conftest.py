"""Fixtures for the fault tests: private servers a test may stop and start."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults.services import PrivatePostgres, PrivateRedis


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePostgres]:
    """One cluster per module (``initdb`` costs seconds); each test stops and starts it."""
    server = PrivatePostgres()
    server.start()
    try:
        yield server
    finally:
        server.close()
