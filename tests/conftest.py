"""Shared fixtures: a fresh PostgreSQL database per session, Redis, settings, a live server."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from core.settings import Settings
from llm.local_server import LlamaCppServer
from llm.packaged_models import ensure_model

PG_ADMIN_URL = os.environ.get("ZHIKU_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("ZHIKU_TEST_REDIS", "redis://127.0.0.1:6379/7")


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A database of our own on the real PostgreSQL server, dropped afterwards."""
    name = f"zhiku_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    client.ping()
    client.flushdb()
    return REDIS_URL


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    """Settings for a test: everything under ``data_dir``; models cached where the user's are."""
    # No embedded answer model unless a test asks: the tests that answer share one llama.cpp
    # server (the ``llama_server`` fixture) through ``llm.backends``.
    values: dict[str, object] = {
        "environment": "test",
        "data_dir": data_dir,
        "llm": {"local": {"enabled": False}},
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


# The packaged model the tests answer with: the product's default (1.5B). The 0.5B one is
# about twice as fast but answers with a bare "[1]", cites the wrong passage and invents
# answers it should decline (measured 2026-11-29); ZHIKU_TEST_LLM_MODEL overrides.
TEST_LLM_MODEL = os.environ.get("ZHIKU_TEST_LLM_MODEL", "qwen2.5-coder-1.5b-instruct")


@pytest.fixture(scope="session")
def llama_server() -> Iterator[LlamaCppServer]:
    """A real llama.cpp OpenAI-compatible server on 127.0.0.1 serving ``TEST_LLM_MODEL``
    (fetched from PyPI into the user's model cache on first use). Yields a
    ``llm.local_server.LlamaCppServer``: ``.base_url`` (``http://127.0.0.1:PORT/v1``),
    ``.model`` (the name to send), ``.backend_settings()`` for a router."""
    path = ensure_model(TEST_LLM_MODEL, Settings(environment="test").model_cache_path)
    with LlamaCppServer(path, alias=TEST_LLM_MODEL, n_ctx=4096) as server:
        yield server
