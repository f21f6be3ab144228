"""The model alone: Zhiku's embedder, built from the library, on the chunks Zhiku's own parse
function makes of the same files, in one call (it sorts all texts by length before cutting
batches and keeps every worker busy to the end: the model's best case)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.common import PhaseResources, ResourceSampler
from bench.corpora import SourceDoc
from core.settings import Settings


def make_embedder(settings: Settings) -> Any:
    """``build_embedder(settings.embedding, settings.model_cache_path)``, wherever it lives."""
    try:
        from index.embedders import build_embedder
    except ImportError:
        from index.embedding import build_embedder  # type: ignore[attr-defined,no-redef]
    return build_embedder(settings.embedding, settings.model_cache_path)


def make_parse_fn(settings: Settings) -> Any:
    """The product's parse function (parse + chunk), wherever the composition root lives."""
    return parse_fn_builder()(settings)


def parse_fn_builder() -> Any:
    """``build_parse_fn``: in zhiku.parsing, zhiku.container or (before) zhiku.assembly."""
    import importlib

    for where in ("zhiku.parsing", "zhiku.container", "zhiku.assembly"):
        try:
            return importlib.import_module(where).build_parse_fn
        except (ImportError, AttributeError):
            continue
    raise ImportError("build_parse_fn not found in zhiku.parsing, .container or .assembly")


@dataclass
class ModelAloneRun:
    corpus: str
    chunks: int
    documents_parsed: int
    parse_failures: int
    parse_s: float  # outside the clock
    mean_tokens: float
    resources: PhaseResources


def chunk_texts(parse: Any, docs: Sequence[SourceDoc]) -> tuple[list[str], int, int]:
    """Every chunk text of ``docs`` as the product's parse function makes it; and how many
    documents were parsed, how many failed."""
    texts: list[str] = []
    failures = 0
    for doc in docs:
        try:
            chunks, _ = parse(doc.data, doc.filename)
        except Exception:  # the pipeline fails the same file
            failures += 1
            continue
        texts += [c.text for c in chunks]
    return texts, len(docs) - failures, failures


def run_model_alone(
    embedder: Any, parse: Any, corpus: str, docs: Sequence[SourceDoc], max_tokens: int
) -> ModelAloneRun:
    started = time.perf_counter()
    texts, parsed, failures = chunk_texts(parse, docs)
    parse_s = round(time.perf_counter() - started, 2)
    with ResourceSampler() as sampler:
        embedder.embed_documents(texts)
    capped = sum(min(max_tokens, embedder.token_count(t)) for t in texts)
    return ModelAloneRun(
        corpus=corpus,
        chunks=len(texts),
        documents_parsed=parsed,
        parse_failures=failures,
        parse_s=parse_s,
        mean_tokens=round(capped / max(1, len(texts)), 1),
        resources=sampler.result,
    )
