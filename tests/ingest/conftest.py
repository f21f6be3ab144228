"""Fixtures for the ingest tests: real documents, the real tokenizer, a parse-and-chunk helper."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from core.settings import ChunkingSettings, EmbeddingSettings, LimitsSettings
from core.settings_parsing import ParsingSettings
from index.tokens import token_counter
from ingest.chunking import Chunker
from ingest.parsing import parse_document
from ingest.types import Chunk, ParsedDocument
from tests.ingest.helpers import Ingest
from tests.support import TEST_EMBEDDING_MODEL, shared_data_dir


@pytest.fixture(scope="session")
def docs() -> Path:
    return shared_data_dir() / "docs"


@pytest.fixture(scope="session")
def token_count() -> Callable[[str], int]:
    return token_counter(EmbeddingSettings(model=TEST_EMBEDDING_MODEL))


@pytest.fixture(scope="session")
def chunker(token_count: Callable[[str], int]) -> Chunker:
    return Chunker(ChunkingSettings(), token_count)


@pytest.fixture(scope="session")
def ingest(chunker: Chunker) -> Ingest:
    def run(path: Path) -> tuple[ParsedDocument, list[Chunk]]:
        parsed = parse_document(path.read_bytes(), path.name, ParsingSettings(), LimitsSettings())
        return parsed, chunker.chunk(parsed.elements)

    return run
