"""Dense embedders: the protocol, the helpers both backends share, and the
sentence-transformers backend.

The int8 ONNX backend lives in :mod:`index.embedding_onnx`;
:func:`index.embedders.build_embedder` picks one from :class:`~core.settings.EmbeddingSettings`.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
from tokenizers import Tokenizer

from index.models import known_prompts, resolve_model
from index.tokens import count_tokens, plain_copy

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)


@runtime_checkable
class Embedder(Protocol):
    """Turns text into L2-normalised float32 vectors (cosine = dot product)."""

    dim: int
    # Content tokens (as ``token_count`` counts them) embedded without truncation.
    max_tokens: int
    name: str
    # Texts per model call, and how many calls it runs at once: callers that feed it in
    # slices give it ``batch_size * concurrency`` texts at a time to keep every worker busy.
    batch_size: int
    concurrency: int

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        """Shape (len(texts), dim), float32, each row of unit length."""
        ...

    def embed_query(self, text: str) -> np.ndarray:
        """Shape (dim,), float32, unit length."""
        ...

    def token_count(self, text: str) -> int:
        """The model tokenizer's count, special tokens excluded, never truncated."""
        ...


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def resolve_device(device: str) -> str:
    if device != "auto":
        return device
    # Importing torch costs ~220 MiB of memory; without an NVIDIA device node there is no
    # CUDA to find, so the ONNX path on a CPU machine never loads it.
    if not any(Path("/dev").glob("nvidia[0-9]*")):
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def hide_broken_torchvision() -> None:
    """Make a torchvision whose C extension cannot load look absent.

    PyPI's torchvision is built against CUDA torch; beside the CPU torch wheel its import
    raises ("operator torchvision::nms does not exist"), and transformers imports it when
    present, so sentence-transformers would fail to import at all. Only image models need it.
    """
    if "torchvision" in sys.modules:
        return
    spec = importlib.util.find_spec("torchvision")
    if spec is None or not spec.submodule_search_locations:
        return
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    extension = next(
        (p for p in package_dir.glob("_C*") if p.suffix in (".so", ".pyd")),
        None,
    )
    if extension is None:
        return
    import torch

    try:
        torch.ops.load_library(str(extension))
    except OSError:
        logger.warning(
            "torchvision at %s does not match the installed torch; treating it as absent",
            package_dir,
        )
        sys.modules["torchvision"] = None  # type: ignore[assignment]


def load_sentence_transformer(source: str, device: str, name: str = "") -> SentenceTransformer:
    """Load by folder without touching the network, or by hub name the ordinary way; a model
    of a family that needs query/document prefixes (e5) gets them when its files lack them."""
    hide_broken_torchvision()
    from sentence_transformers import SentenceTransformer

    local = Path(source).is_dir()
    model = SentenceTransformer(source, device=device, local_files_only=local)
    declared = {k: v for k, v in (model.prompts or {}).items() if v}
    missing = {k: v for k, v in known_prompts(name or source).items() if k not in declared}
    if missing:
        logger.info("%s declares no %s prompts; using %s", name or source, sorted(missing), missing)
        model.prompts = {**(model.prompts or {}), **missing}
    return model


def prompt_reserve(tokenizer: Tokenizer, prompts: dict[str, str]) -> int:
    """Tokens the longest prompt adds to a text (at most its own count): the window grows by
    it so that a chunk the chunker measured at ``max_tokens`` still fits behind its prefix."""
    return max((count_tokens(tokenizer, p) for p in prompts.values() if p), default=0)


def special_token_count(tokenizer: Tokenizer) -> int:
    """How many tokens the tokenizer adds around a single text ([CLS] and [SEP] for BERT)."""
    return len(tokenizer.encode("").ids)


def model_window(max_tokens: int, special: int, model_limit: int) -> tuple[int, int]:
    """(content tokens, model sequence length): room for ``max_tokens`` plus special tokens,
    within what the model's position embeddings allow."""
    window = min(max_tokens + special, model_limit)
    if window < max_tokens + special:
        logger.warning(
            "max_tokens=%d exceeds the model's limit of %d tokens; using %d",
            max_tokens,
            model_limit,
            window - special,
        )
    return window - special, window


def normalise_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


class SentenceTransformerEmbedder:
    """sentence-transformers on torch: the reference backend, and the fast one on CUDA."""

    def __init__(
        self,
        model: str = "",
        device: str = "auto",
        batch_size: int = 32,
        max_tokens: int = 256,
        cache_dir: Path | None = None,
        precision: str = "auto",
        batch_tokens: int = 0,
    ) -> None:
        source, self.name = resolve_model(model, cache_dir)
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        self.concurrency = 1
        self._model = load_sentence_transformer(source, self.device, self.name)
        # fp16 on a GPU: about twice the throughput and half the memory of fp32, vectors
        # within 1e-3 cosine; the sums that normalise them are taken in fp32 by torch.
        if precision == "auto":
            precision = "fp16" if self.device.startswith("cuda") else "fp32"
        self.precision = precision
        if self.precision == "fp16":
            self._model.half()
        # The HF wrapper reconfigures its backend on every call: count with a plain copy.
        self._counter = plain_copy(self._model.tokenizer.backend_tokenizer)
        limit = model_position_limit(self._model)
        reserve = prompt_reserve(self._counter, self._model.prompts or {})
        content, self._model.max_seq_length = model_window(
            max_tokens + reserve, special_token_count(self._counter), limit
        )
        self.max_tokens = content - reserve
        # sentence-transformers 6 renamed get_sentence_embedding_dimension.
        dimension = getattr(self._model, "get_embedding_dimension", None)
        self.dim = int((dimension or self._model.get_sentence_embedding_dimension)())
        logger.info(
            "loaded %s with sentence-transformers on %s (dim %d, window %d)",
            self.name,
            self.device,
            self.dim,
            self._model.max_seq_length,
        )

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        if not self.batch_tokens:
            return normalise_rows(self._encode(list(texts), self.batch_size))
        # Batches by padded size: a GPU is busy for (longest × texts) tokens per batch, so many
        # short chunks go in one batch and long ones in smaller ones, shortest first.
        counts = [len(e.ids) for e in self._counter.encode_batch(list(texts))]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for batch in token_batches(counts, self.batch_size * 8, self.batch_tokens):
            out[batch] = self._encode([texts[i] for i in batch], len(batch))
        return normalise_rows(out)

    def _encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        vectors = self._model.encode_document(
            texts,
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        vector = self._model.encode_query(
            [text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return normalise_rows(vector)[0]

    def token_count(self, text: str) -> int:
        return count_tokens(self._counter, text)


def token_batches(counts: Sequence[int], max_texts: int, batch_tokens: int) -> list[list[int]]:
    """Text indices in batches, shortest first, each with at most ``max_texts`` texts and a
    padded size (its longest text's tokens × its texts) of at most ``batch_tokens``; a text
    longer than the budget goes alone."""
    order = sorted(range(len(counts)), key=counts.__getitem__)
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        # Sorted ascending: this text is the longest of the batch it joins.
        padded = (len(current) + 1) * max(counts[index], 1)
        if current and (len(current) >= max_texts or padded > batch_tokens):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


def model_position_limit(model: Any) -> int:
    """The longest input (special tokens included) the position embeddings allow."""
    config = getattr(model[0].auto_model, "config", None)
    limit = getattr(config, "max_position_embeddings", None) or 512
    # RoBERTa-style models reserve two positions for the padding offset.
    if getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        limit -= 2
    return int(limit)
