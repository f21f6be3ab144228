"""The embedding backends by name, and :func:`build_embedder`, which picks one from
:class:`~core.settings.EmbeddingSettings`: sentence-transformers on torch
(:mod:`index.embedding`) or the int8 ONNX export (:mod:`index.embedding_onnx`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from core.settings import EmbeddingSettings
from index.embedding import Embedder, SentenceTransformerEmbedder, resolve_device
from index.models import UnsupportedModel

logger = logging.getLogger(__name__)


def _build_torch(settings: EmbeddingSettings, cache_dir: Path, device: str) -> Embedder:
    return SentenceTransformerEmbedder(
        settings.model,
        device=device,
        batch_size=settings.batch_size,
        max_tokens=settings.max_tokens,
        cache_dir=cache_dir,
        precision=settings.precision,
        batch_tokens=settings.batch_tokens,
    )


def _build_onnx(settings: EmbeddingSettings, cache_dir: Path, device: str) -> Embedder:
    # Imported here so the torch path never loads onnxruntime.
    from index.embedding_onnx import OnnxEmbedder

    return OnnxEmbedder.from_model(
        settings.model,
        cache_dir,
        device=device,
        batch_size=settings.batch_size,
        max_tokens=settings.max_tokens,
        threads=settings.threads,
        intra_op_threads=settings.intra_op_threads,
    )


_BACKENDS: dict[str, Callable[[EmbeddingSettings, Path, str], Embedder]] = {
    "torch": _build_torch,
    "onnx": _build_onnx,
}


def build_embedder(settings: EmbeddingSettings, cache_dir: Path) -> Embedder:
    """``auto``: int8 ONNX on CPU (about twice torch's throughput), torch on CUDA."""
    device = resolve_device(settings.device)
    backend = settings.backend
    if backend == "auto":
        backend = "torch" if device.startswith("cuda") else "onnx"
        try:
            embedder = _BACKENDS[backend](settings, cache_dir, device)
        except UnsupportedModel as exc:
            if backend != "onnx":
                raise
            logger.warning("ONNX backend unavailable for this model (%s); using torch", exc)
            backend = "torch"
            embedder = _BACKENDS[backend](settings, cache_dir, device)
    else:
        embedder = _BACKENDS[backend](settings, cache_dir, device)
    logger.info(
        "embedding backend %s (requested %s) on %s: %s",
        backend,
        settings.backend,
        device,
        embedder.name,
    )
    return embedder
