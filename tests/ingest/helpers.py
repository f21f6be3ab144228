"""Helpers for the ingest tests: parsing bytes with the default settings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from core.settings import LimitsSettings
from core.settings_parsing import ParsingSettings
from ingest.parsing import parse_document
from ingest.types import Chunk, ParsedDocument

# What the ``ingest`` fixture returns: parse a file, then chunk it.
Ingest = Callable[[Path], tuple[ParsedDocument, list[Chunk]]]


def parse_bytes(data: bytes, filename: str) -> ParsedDocument:
    return parse_document(data, filename, ParsingSettings(), LimitsSettings())
