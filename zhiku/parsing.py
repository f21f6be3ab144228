"""The parse function of the composition root, in a module of its own: an isolated parser
process builds it from settings by name, and importing it loads only the parsers and the
tokenizer (not the services, the store or the models)."""

from __future__ import annotations

from core.settings import Settings
from index.tokens import token_counter
from ingest.chunking import Chunker
from ingest.formats import check_archive_safety
from ingest.parsing import parse_document
from ingest.types import Chunk
from workers.context import ParseFn


def build_parse_fn(settings: Settings) -> ParseFn:
    """bytes → chunks, sized in the configured embedding model's tokens. Module-level, so an
    isolated parser process can build its own from settings."""
    chunker = Chunker(settings.chunking, token_counter(settings.embedding))

    def parse(data: bytes, filename: str) -> tuple[list[Chunk], dict[str, object]]:
        check_archive_safety(data, settings.limits)
        parsed = parse_document(data, filename, settings.parsing, settings.limits)
        chunks = chunker.chunk(parsed.elements)
        return chunks, {**parsed.metadata, "elements": len(parsed.elements)}

    return parse
