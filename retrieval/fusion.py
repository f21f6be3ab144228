"""The dense and keyword legs of a hybrid query fused here, as the engine fuses prefetches.

A hybrid query runs as two engine searches so that the keyword leg can run while the question
is still being encoded (:mod:`retrieval.legs`). The fusion then happens here, with the
engine's own formulas (Qdrant's ``score_fusion`` and ``rrf``, which qdrant-client's local mode
also copies): the ranking must not depend on which path ran, and the contract tests compare it
with the engine's fusion on both backends.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from index.types import ScoredChunk, ranked


def fuse(
    legs: Sequence[Sequence[ScoredChunk]],
    fusion: Literal["rrf", "dbsf"],
    limit: int,
    *,
    rrf_k: int = 60,
    weights: Sequence[float] | None = None,
) -> list[ScoredChunk]:
    """The ``limit`` best of the legs' chunks, each scored by ``fusion`` over the legs that
    found it; ``weights`` (one per leg) apply to RRF only, as in the engine."""
    if weights is not None and len(weights) != len(legs):
        raise ValueError("one weight per leg")
    totals: dict[str, float] = {}
    chunks: dict[str, ScoredChunk] = {}
    for n, leg in enumerate(legs):
        if fusion == "dbsf":
            scores = _distribution_normalised([c.score for c in leg])
        else:
            scores = _reciprocal_ranks(len(leg), rrf_k, weights[n] if weights else 1.0)
        for chunk, score in zip(leg, scores, strict=True):
            totals[chunk.id] = totals.get(chunk.id, 0.0) + score
            chunks.setdefault(chunk.id, chunk)
    fused = ranked(ScoredChunk(i, s, chunks[i].payload) for i, s in totals.items())
    return fused[:limit]


def _distribution_normalised(scores: Sequence[float]) -> list[float]:
    """Each score mapped from [mean - 3σ, mean + 3σ] (sample σ) onto [0, 1], unclipped; a
    single score, or scores all equal, count 0.5."""
    if len(scores) < 2:
        return [0.5] * len(scores)
    mean = math.fsum(scores) / len(scores)
    variance = math.fsum((s - mean) ** 2 for s in scores) / (len(scores) - 1)
    if variance == 0:
        return [0.5] * len(scores)
    spread = math.sqrt(variance)
    low = mean - 3 * spread
    return [(s - low) / (6 * spread) for s in scores]


def _reciprocal_ranks(count: int, k: int, weight: float) -> list[float]:
    """Rank r (0 first) scores 1 / ((r + 1) / weight + k - 1): 1 / (r + k) unweighted."""
    if weight <= 0:
        return [0.0] * count
    return [1.0 / ((rank + 1.0) / weight + k - 1.0) for rank in range(count)]
