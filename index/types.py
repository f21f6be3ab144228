"""Records that cross the vector-store protocol."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Payload keys every chunk carries. Kept as constants: the filter compiler, the payload
# indexes and the permission filter must all spell them the same way.
TENANT = "tenant_id"
ACCESS = "access"
DOC_ID = "doc_id"
VERSION = "version"
POSITION = "position"
PAGE = "page"
TEXT = "text"
SECTION_PATH = "section_path"
TITLE = "title"
FILENAME = "filename"
MIME_TYPE = "mime_type"
TAGS = "tags"
CREATED_AT = "created_at"  # epoch seconds (float), so range filters work on both backends

DENSE = "dense"
SPARSE = "sparse"


@dataclass(frozen=True)
class SparseVector:
    indices: list[int]
    values: list[float]


@dataclass
class ChunkPoint:
    """One chunk as stored: a deterministic id, both vectors, and its payload.

    ``payload`` must hold at least TENANT, ACCESS, DOC_ID, VERSION, POSITION and TEXT.
    """

    id: str
    dense: list[float]
    sparse: SparseVector
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass
class ScoredChunk:
    id: str
    score: float
    payload: dict[str, Any]
