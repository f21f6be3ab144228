"""Helpers shared by the tests: where the services and data are, settings for a test."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from core.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[1]

PG_ADMIN_URL = os.environ.get("ZHIKU_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("ZHIKU_TEST_REDIS", "redis://127.0.0.1:6379/7")

# The packaged model the tests answer with: the product's default (1.5B). The 0.5B one is
# about twice as fast but answers with a bare "[1]", cites the wrong passage and invents
# answers it should decline (measured 2026-11-29); ZHIKU_TEST_LLM_MODEL overrides.
TEST_LLM_MODEL = os.environ.get("ZHIKU_TEST_LLM_MODEL", "qwen2.5-coder-1.5b-instruct")

# The embedding model most tests ingest with: the packaged English MiniLM, about twice as fast
# to load and run as the product's default (multilingual-e5-small), which would add minutes to
# every suite run. The default has tests of its own (tests/api/test_default_model.py,
# tests/index/test_multilingual_embedder.py); ZHIKU_TEST_EMBEDDING_MODEL=packaged:multilingual-
# e5-small runs the whole suite on it.
TEST_EMBEDDING_MODEL = os.environ.get("ZHIKU_TEST_EMBEDDING_MODEL", "packaged:all-minilm-l6-v2")


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
    embedding = dict(values.get("embedding") or {})  # type: ignore[call-overload]
    embedding.setdefault("model", TEST_EMBEDDING_MODEL)
    values["embedding"] = embedding
    return Settings(**values)  # type: ignore[arg-type]


def shared_data_dir() -> Path:
    """``../shared/data`` beside the checkout. Skips only where it is absent (a user's clone);
    in CI (``CI=true``) its absence is an error, never a skip."""
    path = Path(os.environ.get("ZHIKU_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    if not path.is_dir():
        if os.environ.get("CI"):
            raise RuntimeError(f"shared data missing in CI: {path}")
        pytest.skip(f"shared data not present at {path} (only in the project's own checkouts)")
    return path


def scifact_passages(count: int = 24) -> list[str]:
    """The first ``count`` SciFact abstracts with their titles: real passages, most of them
    longer than the embedding model's 256-token window."""
    texts = []
    with (shared_data_dir() / "scifact" / "corpus.jsonl").open() as corpus:
        for line in corpus:
            record = json.loads(line)
            texts.append(f"{record['title']} {record['text']}")
            if len(texts) == count:
                break
    return texts


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new database on the test PostgreSQL server, its URL, dropped afterwards."""
    name = f"zhiku_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
