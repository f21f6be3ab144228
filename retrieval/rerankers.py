"""Rerankers: score (query, passage) pairs jointly, after the fused search has found candidates.

:class:`CrossEncoderReranker` loads a sentence-transformers ``CrossEncoder`` by hub name or
local folder (one relevance logit per pair). On CPU it runs an int8 ONNX export through plain
onnxruntime, as the embedder does (:mod:`index.onnx_export`): the model is exported once,
quantised per channel, cached under ``cache_dir/onnx-rerank/`` by a hash of the model's files
and the recipe, and published by an atomic rename. Scores are the sigmoid of the logit on both
paths, so a threshold means the same on either.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from tokenizers import Tokenizer

from index.embedding import available_cores, hide_broken_torchvision, resolve_device
from index.models import UnsupportedModel
from index.onnx_export import MODEL_FILE, export_int8, local_model_dir, model_key, publish_export
from index.tokens import TOKENIZER_FILE, plain_copy

logger = logging.getLogger(__name__)

MANIFEST = "zhiku-rerank-onnx.json"
# Part of the cache key: change it whenever the export or quantisation changes.
EXPORT_RECIPE = "rerank/torchscript-opset17-eager/int8-per-channel-weights-per-row-activations/v2"

Backend = Literal["auto", "torch", "onnx"]
# Where exports go when the caller names no cache (the composition root passes its own).
DEFAULT_CACHE = Path.home() / ".cache" / "zhiku" / "models"


@runtime_checkable
class Reranker(Protocol):
    name: str

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        """One relevance score per passage, higher is better, in the passages' order."""
        ...


class CrossEncoderReranker:
    """A cross-encoder by hub name or folder; ``backend="auto"``: int8 ONNX on CPU, torch on
    CUDA (and torch when the model cannot be exported)."""

    def __init__(
        self,
        model: str,
        *,
        cache_dir: Path | None = None,
        backend: Backend = "auto",
        device: str = "auto",
        max_length: int = 320,
        batch_size: int = 16,
        threads: int = 0,
    ) -> None:
        if not model:
            raise ValueError("a cross-encoder reranker needs a model name or folder")
        self.name = model
        self.max_length = max_length
        self.batch_size = batch_size
        cache_dir = Path(cache_dir) if cache_dir is not None else DEFAULT_CACHE
        device = resolve_device(device)
        if backend == "auto":
            backend = "torch" if device.startswith("cuda") else "onnx"
            try:
                self._impl: _Scorer = _make(backend, model, cache_dir, device, threads, max_length)
            except UnsupportedModel as exc:
                logger.warning("ONNX reranker unavailable (%s); using torch", exc)
                backend = "torch"
                self._impl = _make(backend, model, cache_dir, device, threads, max_length)
        else:
            self._impl = _make(backend, model, cache_dir, device, threads, max_length)
        self.backend = backend
        logger.info("reranker %s on %s (%s, max_length %d)", model, device, backend, max_length)

    def score(self, query: str, passages: Sequence[str]) -> list[float]:
        if not passages:
            return []
        scores = np.empty(len(passages), dtype=np.float32)
        # Similar lengths in a batch waste less compute on padding.
        order = sorted(range(len(passages)), key=lambda i: len(passages[i]))
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            scores[batch] = self._impl.logits(query, [passages[i] for i in batch])
        return (1.0 / (1.0 + np.exp(-scores))).tolist()


class _Scorer(Protocol):
    def logits(self, query: str, passages: list[str]) -> np.ndarray: ...


def _make(
    backend: str, model: str, cache_dir: Path, device: str, threads: int, max_length: int
) -> _Scorer:
    if backend == "onnx":
        return _OnnxScorer(ensure_onnx_reranker(model, cache_dir), device, threads, max_length)
    if backend == "torch":
        return _TorchScorer(model, device, max_length)
    raise ValueError(f"unknown reranker backend {backend!r}")


class _TorchScorer:
    def __init__(self, model: str, device: str, max_length: int) -> None:
        hide_broken_torchvision()
        from sentence_transformers import CrossEncoder

        local = Path(model).is_dir()
        self._model = CrossEncoder(
            model,
            device=device,
            max_length=max_length,
            local_files_only=local,
            # Raw logits: the sigmoid is applied once, in CrossEncoderReranker.score.
            activation_fn=_identity(),
        )

    def logits(self, query: str, passages: list[str]) -> np.ndarray:
        pairs = [(query, p) for p in passages]
        out = self._model.predict(pairs, batch_size=len(pairs), show_progress_bar=False)
        return np.asarray(out, dtype=np.float32).reshape(len(passages))


def _identity() -> Any:
    import torch

    return torch.nn.Identity()


class _OnnxScorer:
    def __init__(self, export_dir: Path, device: str, threads: int, max_length: int) -> None:
        import onnxruntime as ort

        manifest = json.loads((export_dir / MANIFEST).read_text())
        self._inputs: list[str] = manifest["inputs"]
        self._tokenizer = Tokenizer.from_file(str(export_dir / TOKENIZER_FILE))
        window = min(max_length, int(manifest["max_positions"]))
        # Query and passage cut in turn from the longer one, as transformers' tokenizer does.
        self._tokenizer.enable_truncation(max_length=window, strategy="longest_first")
        self._tokenizer.enable_padding(pad_id=manifest["pad_id"], pad_token=manifest["pad_token"])
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or available_cores()
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda") and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        self._session = ort.InferenceSession(
            str(export_dir / MODEL_FILE), options, providers=providers
        )

    def logits(self, query: str, passages: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch([(query, p) for p in passages])
        columns = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        (logits,) = self._session.run(None, {n: columns[n] for n in self._inputs})
        return np.asarray(logits, dtype=np.float32).reshape(len(passages))


def ensure_onnx_reranker(model: str, cache_dir: Path) -> Path:
    """The cached int8 export of a cross-encoder, building it if absent."""
    folder = local_model_dir(model)
    if not (folder / "config.json").is_file():
        raise UnsupportedModel(f"{model}: no config.json for a sequence-classification model")
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", model).strip("-.")[-60:] or "model"
    target = Path(cache_dir) / "onnx-rerank" / f"{slug}-{model_key(folder, EXPORT_RECIPE)[:16]}"
    return publish_export(target, MANIFEST, f"reranker {model}", lambda out: _export(folder, out))


def _export(folder: Path, out: Path) -> None:
    import inspect

    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    hide_broken_torchvision()
    network = AutoModelForSequenceClassification.from_pretrained(str(folder)).float().eval()
    if int(network.config.num_labels) != 1:
        raise UnsupportedModel(
            f"{folder}: {network.config.num_labels} labels; a reranker has one relevance logit"
        )
    hf_tokenizer = AutoTokenizer.from_pretrained(str(folder))
    if not getattr(hf_tokenizer, "is_fast", False):
        raise UnsupportedModel(f"{folder}: no fast tokenizer to run without transformers")
    plain_copy(hf_tokenizer.backend_tokenizer).save(str(out / TOKENIZER_FILE))

    accepted = inspect.signature(network.forward).parameters
    inputs = [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in accepted]
    sample = hf_tokenizer(["a query", "another"], ["a passage", "a longer passage"], padding=True)
    dynamic = {n: {0: "batch", 1: "sequence"} for n in inputs}
    dynamic["logits"] = {0: "batch"}
    from index.onnx_rowquant import UnsupportedQuantization  # onnx: at export time only

    try:
        export_int8(network, sample, inputs, "logits", dynamic, out)
    except UnsupportedQuantization as exc:
        raise UnsupportedModel(f"{folder}: {exc}") from exc
    limit = int(getattr(network.config, "max_position_embeddings", 512) or 512)
    if getattr(network.config, "model_type", "") in ("roberta", "xlm-roberta", "camembert"):
        limit -= 2
    manifest = {
        "recipe": EXPORT_RECIPE,
        "source": str(folder),
        "inputs": inputs,
        "max_positions": limit,
        "pad_id": int(hf_tokenizer.pad_token_id or 0),
        "pad_token": str(hf_tokenizer.pad_token or "[PAD]"),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2))  # last: marks completion
