"""The query path: the caller's principals → permission scope → hybrid search → rerank.

The permission filter is never applied to results afterwards: :class:`index.store.Scope` is
compiled into the engine's query, so a chunk the caller may not read is never a candidate,
never counted in IDF statistics, and never reaches this module.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from core import metrics, tracing
from core.access import Principal
from core.errors import InvalidInput
from core.settings_retrieval import RetrievalSettings
from index import types as fields
from index.embedding import Embedder
from index.sparse import SparseEncoder
from index.store import Scope, SearchRequest, VectorStore
from index.types import ScoredChunk, SparseVector
from retrieval.filters import MetadataFilters
from retrieval.fusion import fuse
from retrieval.language import dense_languages, query_language
from retrieval.legs import LegRunner
from retrieval.served import Served

if TYPE_CHECKING:
    from retrieval.rerankers import Reranker

Mode = Literal["hybrid", "dense", "sparse"]
# One engine search, started or not: calling it gives its chunks.
Leg = Callable[[], list[ScoredChunk]]
MAX_LIMIT = 100


@dataclass(frozen=True)
class Hit:
    """One retrieved chunk, with what a citation needs."""

    chunk_id: str
    doc_id: str
    version: int
    position: int
    score: float
    text: str
    title: str
    filename: str
    page: int | None
    page_end: int | None
    section_path: tuple[str, ...]
    mime_type: str
    tags: tuple[str, ...]

    @classmethod
    def from_scored(cls, scored: ScoredChunk, score: float | None = None) -> Hit:
        p: dict[str, Any] = scored.payload
        return cls(
            chunk_id=scored.id,
            doc_id=str(p[fields.DOC_ID]),
            version=int(p.get(fields.VERSION, 1)),
            position=int(p.get(fields.POSITION, 0)),
            score=scored.score if score is None else score,
            text=str(p.get(fields.TEXT, "")),
            title=str(p.get(fields.TITLE, "")),
            filename=str(p.get(fields.FILENAME, "")),
            page=p.get(fields.PAGE),
            page_end=p.get("page_end"),
            section_path=tuple(p.get(fields.SECTION_PATH) or ()),
            mime_type=str(p.get(fields.MIME_TYPE, "")),
            tags=tuple(p.get(fields.TAGS) or ()),
        )


@dataclass
class SearchResult:
    hits: list[Hit]
    language: str
    # What actually ran: a Chinese query under an English-only dense model runs "sparse".
    mode: Mode
    reranked: bool
    timings_ms: dict[str, float] = field(default_factory=dict)


class Retriever:
    def __init__(
        self,
        store: VectorStore,
        embedder: Embedder,
        sparse: SparseEncoder,
        settings: RetrievalSettings,
        reranker: Reranker | None = None,
        served: Served | None = None,
        legs: LegRunner | None = None,
    ) -> None:
        """``served``: drops the chunks of versions the database does not serve (None: every
        chunk the scope admits answers, as in a store without a database behind it).
        ``legs``: the threads a hybrid query's keyword leg may run on while its question is
        encoded (None: the legs run one after the other on the caller's thread)."""
        self._legs = legs or LegRunner(0)
        self._store = store
        self._served = served
        self._embedder = embedder
        self._sparse = sparse
        self._settings = settings
        self._reranker = reranker

    @property
    def embedder(self) -> Embedder:
        """The model that embeds questions (and judges answers' sentences by meaning)."""
        return self._embedder

    def search(
        self,
        principal: Principal,
        query: str,
        *,
        limit: int = 10,
        filters: MetadataFilters | None = None,
        mode: Mode = "hybrid",
        rerank: bool | None = None,
    ) -> SearchResult:
        """The ``limit`` best chunks ``principal`` may read. ``rerank`` None: rerank when a
        reranker is configured and covers the query's language."""
        text = self._check(query, limit)
        scope = Scope.for_principal(principal)
        language = query_language(text)
        mode = self._route(mode, language)
        want_rerank = self._reranker is not None and (
            rerank if rerank is not None else language in self._settings.reranker_languages
        )
        with tracing.span("retrieval.search", mode=mode, language=language, limit=limit):
            return self._search(text, scope, language, mode, want_rerank, limit, filters)

    def _search(
        self,
        text: str,
        scope: Scope,
        language: str,
        mode: Mode,
        want_rerank: bool,
        limit: int,
        filters: MetadataFilters | None,
    ) -> SearchResult:
        depth = max(limit, self._settings.rerank_depth) if want_rerank else limit
        timings: dict[str, float] = {}
        stage = metrics.RETRIEVAL_STAGE_SECONDS

        started = time.perf_counter()
        sparse: SparseVector | None = None
        if mode != "dense":
            with metrics.timed(stage.labels("sparse_encode", mode), "retrieval.sparse_encode"):
                sparse = self._sparse.encode_query(text)
            if not sparse.indices:
                if mode == "sparse":
                    return SearchResult([], language, mode, False, timings)  # nothing to match
                sparse = None
        depth_each = max(self._settings.candidates, depth)
        request = SearchRequest(
            sparse=sparse,
            limit=depth,
            prefetch_limit=depth_each,
            filter=(filters or MetadataFilters()).to_filter(),
            fusion=self._settings.fusion,
            rrf_k=self._settings.rrf_k,
            weights=self._settings.fusion_weights,
        )
        # A hybrid query's keyword leg starts before the question is encoded, when a thread is
        # free (retrieval.legs); otherwise the query is one engine call, fused in the engine.
        keyword: Leg | None = None
        if sparse is not None and mode == "hybrid":
            leg = replace(request, limit=depth_each, with_payload=False)
            keyword = self._legs.start(lambda: self._engine(leg, scope))
        if mode != "sparse":
            with metrics.timed(stage.labels("dense_encode", mode), "retrieval.dense_encode"):
                request = replace(request, dense=self._embedder.embed_query(text).tolist())
        timings["encode"] = _ms(started)

        started = time.perf_counter()
        if keyword is None:
            candidates = self._engine(request, scope)
        else:
            dense_leg = replace(request, sparse=None, limit=depth_each, with_payload=False)
            candidates = self._fused([self._engine(dense_leg, scope), keyword()], depth, scope)
        # What the engine added after the encoding: the legs still running, and their fusion.
        stage.labels("search", mode).observe(time.perf_counter() - started)
        candidates = self._served_only(candidates)
        timings["search"] = _ms(started)

        if want_rerank and candidates:
            started = time.perf_counter()
            with metrics.timed(stage.labels("rerank", mode), "retrieval.rerank"):
                hits = self._rerank(text, candidates)[:limit]
            timings["rerank"] = _ms(started)
        else:
            hits = [Hit.from_scored(c) for c in candidates[:limit]]
        return SearchResult(hits, language, mode, want_rerank and bool(candidates), timings)

    def _engine(self, request: SearchRequest, scope: Scope) -> list[ScoredChunk]:
        """One engine search (a leg, or both fused), the permission scope compiled into it."""
        legs = [side for side, v in (("dense", request.dense), ("sparse", request.sparse)) if v]
        with tracing.span("qdrant.query", tracing.CLIENT, leg="+".join(legs)):
            return self._store.search(request, scope)

    def _fused(self, legs: list[list[ScoredChunk]], depth: int, scope: Scope) -> list[ScoredChunk]:
        """The legs fused as the engine fuses them; then the payloads of the ``depth`` best
        alone (a leg's 200 payloads cost more than the leg), read within the scope again: a
        chunk whose access was narrowed since its leg found it is dropped."""
        settings = self._settings
        fused = fuse(
            legs, settings.fusion, depth, rrf_k=settings.rrf_k, weights=settings.fusion_weights
        )
        with tracing.span("qdrant.payloads", tracing.CLIENT, chunks=len(fused)):
            payloads = self._store.payloads([c.id for c in fused], scope)
        return [ScoredChunk(c.id, c.score, payloads[c.id]) for c in fused if c.id in payloads]

    def _served_only(self, candidates: list[ScoredChunk]) -> list[ScoredChunk]:
        """Without the chunks a deleted document, a version being written or one replaced
        left in the store for a moment (until the writer finds its claim gone): the engine
        filter has no notion of which version is ready. Permissions are not decided here."""
        if self._served is None or not candidates:
            return candidates
        pairs = [_version_of(c) for c in candidates]
        served = self._served(pairs)
        return [c for c, pair in zip(candidates, pairs, strict=True) if pair in served]

    def _check(self, query: str, limit: int) -> str:
        text = " ".join(query.split())
        if not text:
            raise InvalidInput("the query is empty")
        if len(text) > self._settings.max_query_chars:
            raise InvalidInput(f"the query is longer than {self._settings.max_query_chars} chars")
        if not 1 <= limit <= MAX_LIMIT:
            raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}")
        return text

    def _route(self, mode: Mode, language: str) -> Mode:
        model = getattr(self._embedder, "name", "")
        languages = dense_languages(self._settings, model)
        if mode == "hybrid" and language not in languages:
            return "sparse"
        return mode

    def _rerank(self, query: str, candidates: Sequence[ScoredChunk]) -> list[Hit]:
        """The candidates by reranker score blended with the fused score (both min-max
        normalised over the candidates): on SciFact the cross-encoder alone lost to the fusion
        it reordered (0.670 against 0.735 nDCG@10); 30% reranker, 70% fused scored 0.743."""
        assert self._reranker is not None
        passages = [_rerank_text(c) for c in candidates]
        reranked = _min_max(self._reranker.score(query, passages))
        fused = _min_max([c.score for c in candidates])
        share = self._settings.rerank_blend
        scores = [(1 - share) * r + share * f for r, f in zip(reranked, fused, strict=True)]
        order = sorted(range(len(candidates)), key=lambda i: (-scores[i], candidates[i].id))
        return [Hit.from_scored(candidates[i], scores[i]) for i in order]


def _version_of(chunk: ScoredChunk) -> tuple[str, int]:
    return str(chunk.payload.get(fields.DOC_ID, "")), int(chunk.payload.get(fields.VERSION, 1))


def _rerank_text(chunk: ScoredChunk) -> str:
    """What the cross-encoder reads: the chunk as stored, which already opens with its section
    path (the reranker trained here saw exactly this; a file name as title only adds noise)."""
    return str(chunk.payload.get(fields.TEXT, ""))


def _min_max(values: Sequence[float]) -> list[float]:
    low, high = min(values), max(values)
    span = (high - low) or 1.0
    return [(float(v) - low) / span for v in values]


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
