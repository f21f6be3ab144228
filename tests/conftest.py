"""Shared fixtures: a fresh PostgreSQL database per session, Redis, the llama.cpp server.

Plain helpers and constants live in ``tests/support.py``: conftest files hold fixtures only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from core.settings import Settings
from llm.local_server import LlamaCppServer
from llm.packaged_models import ensure_model
from tests.support import REDIS_URL, TEST_EMBEDDING_MODEL, TEST_LLM_MODEL, fresh_database


@pytest.fixture(scope="session", autouse=True)
def test_embedding_model() -> Iterator[str]:
    """Settings read from the environment embed with the tests' model (``tests/support.py``
    says why it is not the product's default), unless the run names one."""
    named = os.environ.get("ZHIKU_EMBEDDING__MODEL")
    os.environ["ZHIKU_EMBEDDING__MODEL"] = named or TEST_EMBEDDING_MODEL
    yield os.environ["ZHIKU_EMBEDDING__MODEL"]
    if named is None:
        os.environ.pop("ZHIKU_EMBEDDING__MODEL", None)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A database of our own on the real PostgreSQL server, dropped afterwards; shared by
    the session, so tests that use it must not assume fixed names are free."""
    with fresh_database() as url:
        yield url


@pytest.fixture(scope="module")
def module_pg_url() -> Iterator[str]:
    """A database for one module alone: for stacks that create fixed tenant names
    ("acme") and read the whole database (sweepers, metrics)."""
    with fresh_database() as url:
        yield url


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    client.flushdb()
    return REDIS_URL


@pytest.fixture(scope="session")
def llama_server() -> Iterator[LlamaCppServer]:
    """A real llama.cpp OpenAI-compatible server on 127.0.0.1 serving ``TEST_LLM_MODEL``
    (fetched from PyPI into the user's model cache on first use). Yields a
    ``llm.local_server.LlamaCppServer``: ``.base_url`` (``http://127.0.0.1:PORT/v1``),
    ``.model`` (the name to send), ``.backend_settings()`` for a router."""
    path = ensure_model(TEST_LLM_MODEL, Settings(environment="test").model_cache_path)
    with LlamaCppServer(path, alias=TEST_LLM_MODEL, n_ctx=4096) as server:
        yield server
