"""int8 ONNX embedder: the model exported once, quantised, and run through plain onnxruntime.

On CPU this roughly doubles sentence-transformers' throughput at a mean cosine of ~0.999 to
the fp32 vectors (multilingual-e5-small; ~0.995 for MiniLM), and a text's vector does not
depend on the batch it is embedded in. The export needs torch and sentence-transformers;
running it needs only onnxruntime, ``tokenizers`` and numpy. Exports are cached under
``cache_dir/onnx/`` keyed by a hash of the model's files and of the export recipe, and
published by an atomic rename so that racing processes never see half a model
(:mod:`index.onnx_export`).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

from index.embedding import (
    available_cores,
    load_sentence_transformer,
    model_position_limit,
    model_window,
    normalise_rows,
    prompt_reserve,
    special_token_count,
)
from index.models import UnsupportedModel, is_packaged, known_prompts, resolve_model
from index.onnx_export import MODEL_FILE, export_int8, local_model_dir, model_key, publish_export
from index.tokens import TOKENIZER_FILE, count_tokens, plain_copy, shared_tokenizer

logger = logging.getLogger(__name__)

MANIFEST = "zhiku-onnx.json"
# Part of the cache key: change it whenever the export or quantisation changes.
# Per-channel weights: per-tensor int8 fell to a mean cosine of 0.936 on SciFact passages.
# Eager attention (index.onnx_export); activations quantised per row (index.onnx_rowquant),
# not per batch.
EXPORT_RECIPE = "torchscript-opset17-eager/int8-per-channel-weights-per-row-activations/v2"
_POOLING_MODES = ("mean", "cls", "max")
# A batch is padded to its longest text, so one long text among short ones multiplies the work
# of all of them: e5 spent 2.7 times the CPU on xquad-r-zh's short Chinese passages (10 to 150
# tokens) embedded in groups of 32, as the pipeline forms them, as on the same passages sorted
# in one call. But each batch also costs a fixed part (the int8 weights read once a batch:
# ~2.5-3.5 ms for e5 on one thread, about CALL_TOKENS tokens' compute), so a sparse band of a
# few similar lengths costs more as a batch of its own than padded into the next band's batch.
# The cut is therefore the cheapest of the sorted texts by ``batch_cost`` (a dynamic
# programme), not a fixed length ratio (1.2 before, with texts under MIN_BATCH_TOKENS counted
# as that long): on xquad-r-zh in the embed stage's calls of 64 from groups of 128, -4% CPU a
# passage; in one call of 1,024, within the noise (docs/benchmarks.md, issue 12, session 21).
# A text's vector does not depend on its batch (activations are quantised per row), so the cut
# is free to follow cost alone.
MIN_BATCH_TOKENS = 8
CALL_TOKENS = 17
# A batch also ends before its padded tokens (texts x the longest) pass BATCH_TOKENS: past a few
# hundred tokens a larger batch costs more CPU a text, not less (its activations leave the
# cache). e5, one thread, CPU ms a text by batch size: at 44 tokens 10.1 (1), 7.6 (8), 7.7 (16),
# 8.0 (32); at 84 tokens 18.7 (1), 15.1 (4), 16.1 (16), 18.1 (32). xquad-r-zh's passages in one
# call: 8.9-9.4 ms a passage uncapped, 7.3-7.6 capped at 384-640 (docs/benchmarks.md, issue 12,
# session 20, round two). On CPU only: a GPU wants its batches large.
BATCH_TOKENS = 512


def ensure_onnx_model(model: str, cache_dir: Path) -> Path:
    """The cached export of ``model`` ("" = the packaged default), building it if absent."""
    source, name = resolve_model(model, cache_dir)
    folder = local_model_dir(source)
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.")[-60:] or "model"
    target = Path(cache_dir) / "onnx" / f"{slug}-{model_key(folder, EXPORT_RECIPE)[:16]}"
    return publish_export(target, MANIFEST, name, lambda out: _export_quantized(folder, out))


def _pooling_mode(config: dict[str, Any]) -> str:
    if isinstance(config.get("pooling_mode"), str):
        mode = config["pooling_mode"]
    else:  # the older layout: one boolean per mode
        modes = [
            k.removeprefix("pooling_mode_")
            for k, v in config.items()
            if k.startswith("pooling_mode_") and v is True
        ]
        modes = [m.removesuffix("_token").removesuffix("_tokens") for m in modes]
        mode = modes[0] if len(modes) == 1 else "+".join(modes)
    if mode not in _POOLING_MODES or config.get("include_prompt", True) is False:
        raise UnsupportedModel(f"pooling {config} is not supported by the ONNX backend")
    return mode


def _export_quantized(folder: Path, out: Path) -> None:
    """Export the transformer to ONNX, quantise it, and describe pooling in the manifest (with
    the prompts a known family needs, found from the folder's path when it lacks them)."""

    st_model = load_sentence_transformer(str(folder), "cpu")
    kinds = [type(module).__name__ for module in st_model]
    if kinds[:2] != ["Transformer", "Pooling"] or kinds[2:] not in ([], ["Normalize"]):
        raise UnsupportedModel(f"modules {kinds} are not supported by the ONNX backend")
    transformer = st_model[0].auto_model.float().eval()
    pooling = _pooling_mode(st_model[1].get_config_dict())
    plain_copy(st_model.tokenizer.backend_tokenizer).save(str(out / TOKENIZER_FILE))

    import inspect

    accepted = inspect.signature(transformer.forward).parameters
    inputs = ["input_ids", "attention_mask"]
    if "token_type_ids" in accepted:
        inputs.append("token_type_ids")
    sample = st_model.tokenizer(["a short text", "and a slightly longer one"], padding=True)
    dynamic = {n: {0: "batch", 1: "sequence"} for n in [*inputs, "last_hidden_state"]}
    from index.onnx_rowquant import UnsupportedQuantization  # onnx: at export time only

    try:
        export_int8(transformer, sample, inputs, "last_hidden_state", dynamic, out)
    except UnsupportedQuantization as exc:
        raise UnsupportedModel(f"{folder}: {exc}") from exc
    manifest = {
        "recipe": EXPORT_RECIPE,
        "source": str(folder),
        "dim": int(transformer.config.hidden_size),
        "inputs": inputs,
        "pooling": pooling,
        "normalize": kinds[-1] == "Normalize",
        "prompts": dict(getattr(st_model, "prompts", None) or {}),
        "max_positions": model_position_limit(st_model),
        "pad_id": int(st_model.tokenizer.pad_token_id or 0),
        "pad_token": str(st_model.tokenizer.pad_token or "[PAD]"),
    }
    # Written last: the manifest's presence marks a complete export.
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2))


class OnnxEmbedder:
    """Runs a cached int8 export (see :func:`ensure_onnx_model`) with onnxruntime.

    Activations are quantised with a scale per row (per token), so a text gets the same
    vector alone or in any batch, whatever its padding (tested).

    ``arena``: onnxruntime's CPU memory arena kept between calls ("on"), emptied after each
    call ("shrink"), or not used ("off"); ``tokenizer_file``: a ``tokenizer.json`` that
    tokenizes as the export's copy does (default: that copy), loaded once per process.
    """

    def __init__(
        self,
        export_dir: Path,
        *,
        name: str,
        device: str = "cpu",
        batch_size: int = 32,
        max_tokens: int = 256,
        threads: int = 0,
        intra_op_threads: int = 1,
        arena: Literal["shrink", "on", "off"] = "shrink",
        tokenizer_file: Path | None = None,
    ) -> None:
        manifest = json.loads((export_dir / MANIFEST).read_text())
        self.name = name
        self.dim = int(manifest["dim"])
        # Which export made the vectors (benchmarks key their vector caches by it).
        self.export_recipe = str(manifest.get("recipe", ""))
        self.batch_size = batch_size
        self._inputs: list[str] = manifest["inputs"]
        self._pooling: str = manifest["pooling"]
        # An export made before a model family's prompts were known lacks them in its manifest.
        declared = {k: v for k, v in manifest.get("prompts", {}).items() if v}
        self._prompts: dict[str, str] = {**known_prompts(name), **declared}
        # One plain tokenizer, shared with the chunker's counter: truncation and padding are
        # done here instead of by configuring a copy (two copies of multilingual-e5's 250k-piece
        # vocabulary held ~280 MiB).
        self._tokenizer: Tokenizer = shared_tokenizer(tokenizer_file or export_dir / TOKENIZER_FILE)
        # The window makes room for the prompt, which the chunker's count leaves out.
        reserve = prompt_reserve(self._tokenizer, self._prompts)
        content, window = model_window(
            max_tokens + reserve,
            special_token_count(self._tokenizer),
            int(manifest["max_positions"]),
        )
        self.max_tokens = content - reserve
        self._content = content
        self._pad_id = int(manifest["pad_id"])

        cores = threads or available_cores()
        intra = max(1, min(intra_op_threads, cores))
        # Batches run side by side, each on ``intra`` threads of its own. With one thread per
        # batch there is no barrier between threads inside an operator, so a core taken for a
        # moment by parsing or bookkeeping slows one batch instead of stalling them all.
        self.concurrency = 1 if device.startswith("cuda") else max(1, cores // intra)
        self._batch_tokens = None if device.startswith("cuda") else BATCH_TOKENS
        options = ort.SessionOptions()
        options.intra_op_num_threads = intra
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # The CPU arena keeps a batch's peak activations (for e5, 32 x 258 tokens: ~600 MiB)
        # after the batch. "shrink" hands unused arena memory back after every call.
        options.enable_cpu_mem_arena = arena != "off"
        self._run_options = ort.RunOptions()
        if arena == "shrink":
            self._run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        providers = ["CPUExecutionProvider"]
        if device.startswith("cuda"):
            if "CUDAExecutionProvider" in ort.get_available_providers():
                providers.insert(0, "CUDAExecutionProvider")
            else:
                logger.warning("onnxruntime has no CUDA provider here; running ONNX on CPU")
        self._session = ort.InferenceSession(
            str(export_dir / MODEL_FILE), options, providers=providers
        )
        # InferenceSession.run is thread-safe: the workers share one session and its weights.
        self._workers = (
            ThreadPoolExecutor(self.concurrency, thread_name_prefix="zhiku-onnx")
            if self.concurrency > 1
            else None
        )
        logger.info(
            "loaded int8 ONNX %s (%d batches at a time, %d threads each, window %d)",
            name,
            self.concurrency,
            intra,
            window,
        )

    @classmethod
    def from_model(cls, model: str, cache_dir: Path, **options: Any) -> OnnxEmbedder:
        source, name = resolve_model(model, cache_dir)
        # A packaged model's own tokenizer.json tokenizes as the export's copy does (tested)
        # and is the file the chunker's counter loads (index.tokens): one copy for both.
        own = Path(source) / TOKENIZER_FILE
        if is_packaged(model) and own.is_file():
            options.setdefault("tokenizer_file", own)
        return cls(ensure_onnx_model(model, cache_dir), name=name, **options)

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return self._embed([self._prompts.get("document", "") + t for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self._embed([self._prompts.get("query", "") + text])[0]

    def token_count(self, text: str) -> int:
        return count_tokens(self._tokenizer, text)

    def embed_with_tokens(
        self, texts: Sequence[str], kind: str = "document"
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """The vectors ``embed_documents`` (``kind="query"``: ``embed_query``) gives, batched
        the same way, and each text's token vectors: the last hidden states of its tokens
        (prompt and special tokens included), each L2-normalised, float16. For late
        interaction (MaxSim) over the same forward pass."""
        prompt = self._prompts.get(kind, "")
        tokens: list[np.ndarray] = [np.empty(0)] * len(texts)
        vectors = self._embed([prompt + t for t in texts], tokens)
        return vectors, tokens

    def _embed(self, texts: list[str], tokens: list[np.ndarray] | None = None) -> np.ndarray:
        result = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return result
        encodings = self._tokenizer.encode_batch(texts, add_special_tokens=False)
        sizes = [min(len(e.ids), self._content) for e in encodings]
        # Shortest first, ties by text: the batches (so the vectors) do not depend on the
        # caller's order.
        order = sorted(range(len(texts)), key=lambda i: (sizes[i], texts[i]))
        batches = cut_batches(order, sizes, self.batch_size, self._batch_tokens)

        def run(batch: list[int]) -> tuple[np.ndarray, list[np.ndarray]]:
            columns = self._columns([encodings[i] for i in batch])
            return self._embed_batch(columns, tokens is not None)

        if self._workers is not None and len(batches) > 1:
            vectors = self._workers.map(run, batches)
        else:
            vectors = (run(batch) for batch in batches)
        for batch, (rows, token_rows) in zip(batches, vectors, strict=True):
            result[batch] = rows
            if tokens is not None:
                for i, matrix in zip(batch, token_rows, strict=True):
                    tokens[i] = matrix
        return result

    def _embed_batch(
        self, columns: dict[str, np.ndarray], keep_tokens: bool = False
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        (hidden,) = self._session.run(
            None, {n: columns[n] for n in self._inputs}, self._run_options
        )
        mask = columns["attention_mask"]
        pooled = normalise_rows(_pool(hidden, mask, self._pooling))
        if not keep_tokens:
            return pooled, []
        lengths = mask.sum(axis=1)
        kept = [
            normalise_rows(h[:n]).astype(np.float16) for h, n in zip(hidden, lengths, strict=True)
        ]
        return pooled, kept

    def _encode(self, texts: list[str]) -> dict[str, np.ndarray]:
        """What ``enable_truncation(window)`` + ``enable_padding()`` gave: content cut to the
        window less the special tokens, then the model's template, then right padding."""
        return self._columns(self._tokenizer.encode_batch(texts, add_special_tokens=False))

    def _columns(self, encodings: list[Encoding]) -> dict[str, np.ndarray]:
        """The model's inputs for encodings of the content alone (see :meth:`_encode`)."""
        rows = []
        for encoding in encodings:
            if len(encoding.ids) > self._content:
                encoding.truncate(self._content)
            rows.append(self._tokenizer.post_process(encoding))
        width = max(len(e.ids) for e in rows)
        columns = {
            "input_ids": np.full((len(rows), width), self._pad_id, dtype=np.int64),
            "attention_mask": np.zeros((len(rows), width), dtype=np.int64),
            "token_type_ids": np.zeros((len(rows), width), dtype=np.int64),
        }
        for row, encoding in enumerate(rows):
            size = len(encoding.ids)
            columns["input_ids"][row, :size] = encoding.ids
            columns["attention_mask"][row, :size] = encoding.attention_mask
            columns["token_type_ids"][row, :size] = encoding.type_ids
        return columns


def cut_batches(
    order: Sequence[int],
    sizes: Sequence[int],
    batch_size: int,
    max_tokens: int | None = BATCH_TOKENS,
) -> list[list[int]]:
    """``order`` (positions, shortest first by ``sizes``) cut into batches of at most
    ``batch_size`` whose padded tokens (texts x the longest) stay within ``max_tokens`` (None:
    no bound; a longer text has a batch of its own), at the least cost by ``batch_cost``: the
    cheapest cut of the sorted run, not the greedy one (a dynamic programme, each batch's end
    against every start that fits)."""
    lengths = [sizes[i] for i in order]
    best = np.zeros(len(lengths) + 1)
    start_of = [0] * (len(lengths) + 1)
    for end in range(1, len(lengths) + 1):
        width = lengths[end - 1]  # sorted: the last text is the longest
        most = batch_size if max_tokens is None else min(batch_size, max_tokens // max(width, 1))
        first = max(0, end - max(1, most))
        # Every start that fits at once (numpy: a GPU's uncapped batches of 128 would cost
        # ~25 us a text in a Python loop), latest first: ties go to the smaller batch.
        costs = best[end - 1 : (first - 1 if first else None) : -1] + batch_cost(
            np.arange(1, end - first + 1), width
        )
        cheapest = int(np.argmin(costs))
        best[end], start_of[end] = costs[cheapest], end - 1 - cheapest
    batches: list[list[int]] = []
    end = len(lengths)
    while end:
        batches.append(list(order[start_of[end] : end]))
        end = start_of[end]
    return batches[::-1]


def batch_cost(count: Any, width: int) -> Any:
    """A batch's CPU in tokens' worth of compute: a fixed cost a call, then its padded tokens
    (texts under MIN_BATCH_TOKENS count as that long: the shortest are not cut into tiny
    calls for the few tokens they would save). ``count``: a number or an array of them."""
    return CALL_TOKENS + count * max(width, MIN_BATCH_TOKENS)


def _pool(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    """The sentence-transformers Pooling module's arithmetic, in numpy."""
    if mode == "cls":
        return hidden[:, 0]
    weights = mask[..., None].astype(np.float32)
    if mode == "max":
        return np.where(weights > 0, hidden, -1e9).max(axis=1)
    return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
