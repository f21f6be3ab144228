"""Records that cross the vector-store protocol."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

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

# How a collection holds dense vectors: one per chunk, or (``per_script``) a multivector per
# chunk: the whole text's vector, plus one per language for chunks mixing Chinese and English
# (:mod:`index.script_parts`), scored by the best of them.
SINGLE = "single"
PER_SCRIPT = "per_script"
VectorLayout = Literal["single", "per_script"]
LAYOUTS: tuple[str, ...] = (SINGLE, PER_SCRIPT)

# Fixed forever: changing it changes every chunk id, and re-ingestion would duplicate chunks.
_CHUNK_NAMESPACE = uuid.UUID("6f1b2c1e-3d5a-4c43-9a57-6b0f1e7d9c21")


def chunk_id(tenant_id: str, doc_id: str, version: int, position: int) -> str:
    """The deterministic id of a chunk, a UUID as Qdrant wants: a re-run overwrites, never adds.

    The version is part of it, so a new version is written beside the old one, which stays
    searchable until ``delete_stale_chunks`` removes it.
    """
    return str(uuid.uuid5(_CHUNK_NAMESPACE, f"{tenant_id}\x1f{doc_id}\x1f{version}\x1f{position}"))


@dataclass(frozen=True)
class SparseVector:
    indices: list[int]
    values: list[float]


@dataclass
class ChunkPoint:
    """One chunk as stored: a deterministic id, both vectors, and its payload.

    ``payload`` must hold at least TENANT, ACCESS, DOC_ID, VERSION, POSITION and TEXT.
    ``parts``: the extra dense vectors of a mixed-language chunk; kept by a ``per_script``
    collection, ignored by a ``single`` one.
    """

    id: str
    dense: list[float]
    sparse: SparseVector
    payload: dict[str, Any] = field(default_factory=dict)
    parts: list[list[float]] = field(default_factory=list)


@dataclass
class ScoredChunk:
    id: str
    score: float
    payload: dict[str, Any]


def ranked(results: Iterable[ScoredChunk]) -> list[ScoredChunk]:
    """Best first, ties by id: equal scores (common under rank fusion) come back in the same
    order on every backend and after a reopen, instead of the engine's segment order."""
    return sorted(results, key=lambda r: (-r.score, r.id))
