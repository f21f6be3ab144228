"""How a query is searched and how many passages the model is given (``Settings.retrieval``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class RetrievalSettings(BaseModel):
    # Candidates each side (dense, sparse) contributes to the fusion, and how the engine fuses
    # them: "dbsf" (distribution-based score fusion) or "rrf" (reciprocal rank fusion with
    # ``rrf_k``, optionally weighted per side, ``fusion_weights`` = [dense, sparse]). Chosen on
    # SciFact's train split (DBSF 0.737 nDCG@10 against RRF k=60 0.714): docs/benchmarks.md.
    candidates: int = 200
    fusion: Literal["rrf", "dbsf"] = "dbsf"
    rrf_k: int = 60
    fusion_weights: tuple[float, float] | None = None
    # Threads on which a hybrid query's keyword leg runs while its question is encoded
    # (retrieval.legs); 0: one engine call, fused in the engine. On 2 cores the legs cut a
    # restrictive reader's query 9% at 1M chunks but cost 8-19% more at 100k (the encoding
    # and the leg contend for the cores): docs/benchmarks.md, "Hybrid legs side by side".
    leg_threads: int = Field(default=0, ge=0, le=64)
    # A cross-encoder (hub name or local folder) that re-scores the first ``rerank_depth``
    # fused candidates; empty: no reranking (the one trained here gained +0.008 nDCG@10 for
    # ~0.6 s a query on a CPU). Its score is blended with the fused one, both min-max
    # normalised: ``rerank_blend`` is the fused side's share (0: the reranker alone decides;
    # 0.7 was best on SciFact's held-out train queries).
    reranker: str = ""
    rerank_depth: int = 20
    rerank_blend: float = 0.7
    # Languages the reranker was trained on; other queries keep the fused order.
    reranker_languages: list[str] = ["en"]
    # Languages the dense model understands. A query in another language is searched on the
    # sparse side alone: fusing with an English-only dense model halves Chinese quality.
    # None: from the model serving the index (a multilingual one, e.g.
    # packaged:multilingual-e5-small, serves "en" and "zh"; others "en" alone).
    dense_languages: list[str] | None = None
    # The passages given to the model: at most this many, within this many tokens. Sized for
    # the embedded CPU model (~26 prompt tokens/s on 2 cores: 1,500 tokens is about a minute
    # before the first word); raise both with a GPU-backed vLLM.
    max_passages: int = 6
    context_tokens: int = 1500
    # Adjacent chunks of one document found together become one passage.
    merge_neighbours: bool = True
    max_query_chars: int = 4000
    # Conversation turns given to the question rewriter and the answering model.
    history_messages: int = 6
