"""Search: filters (shared by chat), the request body of /v1/search and its hits."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from retrieval.filters import MetadataFilters
from retrieval.search import Hit
from services.schemas.bounds import FileType, Identifier, Moment, Query, Tag


class SearchFilters(BaseModel):
    """Narrow a search; never widens what the caller may read."""

    # A misspelt filter ("tag", "document_id") is refused (422 naming it): ignored, it
    # silently searched everything the filter was meant to leave out.
    model_config = ConfigDict(extra="forbid")

    document_ids: list[Identifier] = Field(default_factory=list, max_length=100)
    tags: list[Tag] = Field(default_factory=list, max_length=100)
    file_types: list[FileType] = Field(
        default_factory=list, max_length=20, description='Extensions ("pdf") or MIME types'
    )
    # With a zone (422 without): a bare time is as likely local as UTC (api.routes.audit).
    created_after: Moment | None = None
    created_before: Moment | None = None

    def to_domain(self) -> MetadataFilters:
        return MetadataFilters(
            document_ids=tuple(self.document_ids),
            tags=tuple(self.tags),
            file_types=tuple(self.file_types),
            created_after=self.created_after,
            created_before=self.created_before,
        )


class SearchRequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: Query = Field(description="What to look for, in any language")
    limit: int = Field(10, ge=1, le=100)
    filters: SearchFilters = Field(default_factory=SearchFilters)
    mode: Literal["hybrid", "dense", "sparse"] = "hybrid"
    rerank: bool | None = Field(None, description="Default: when a reranker is configured")


class SearchHit(BaseModel):
    chunk_id: str
    document_id: str
    version: int
    position: int
    score: float
    text: str
    title: str
    filename: str
    page: int | None
    page_end: int | None
    section: list[str]
    mime_type: str
    tags: list[str]

    @classmethod
    def from_hit(cls, hit: Hit) -> SearchHit:
        return cls(
            chunk_id=hit.chunk_id,
            document_id=hit.doc_id,
            version=hit.version,
            position=hit.position,
            score=hit.score,
            text=hit.text,
            title=hit.title,
            filename=hit.filename,
            page=hit.page,
            page_end=hit.page_end,
            section=list(hit.section_path),
            mime_type=hit.mime_type,
            tags=list(hit.tags),
        )


class SearchResponse(BaseModel):
    query: str
    language: str
    mode: str
    reranked: bool
    results: list[SearchHit]
    timings_ms: dict[str, float]
