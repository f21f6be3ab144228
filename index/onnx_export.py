"""int8 ONNX exports, shared by the embedder (:mod:`index.embedding_onnx`) and the reranker
(:mod:`retrieval.rerankers`): find a model's files, key its cache folder by their hash, trace
and quantise the network, and publish the result by an atomic rename so that racing processes
never see half a model. Exporting needs torch, imported only when an export runs.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

MODEL_FILE = "model.int8.onnx"
_OPSET = 17
# What a hub snapshot needs for a sentence-transformers model; skips the repos' own
# onnx/, openvino/ and framework-specific weight variants.
_HUB_FILES = ["*.json", "*.txt", "*.model", "*.safetensors"]
_STALE_STAGING_S = 24 * 3600
# A model folder that Zhiku wrote itself (index.packaged_e5) names its own content key in
# this file, written last: hashing its 470 MB on every start would cost seconds.
SELF_KEYED_MARKER = "zhiku-packaged.json"


def local_model_dir(source: str) -> Path:
    """A local folder as is; a hub name through the hub cache, downloading only if absent."""
    if Path(source).is_dir():
        return Path(source)
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(source, allow_patterns=_HUB_FILES, local_files_only=True))
    except LocalEntryNotFoundError:
        return Path(snapshot_download(source, allow_patterns=_HUB_FILES))


def model_key(folder: Path, recipe: str) -> str:
    """Hash of every file's relative path and content, plus the export ``recipe`` (change the
    recipe whenever the export or quantisation changes)."""
    digest = hashlib.sha256(recipe.encode())
    marker = folder / SELF_KEYED_MARKER
    if marker.is_file():
        digest.update(marker.read_bytes())
        return digest.hexdigest()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if relative.startswith(".") or "/." in relative:
            continue
        with path.open("rb") as handle:
            content = hashlib.file_digest(handle, "sha256").hexdigest()
        digest.update(f"{relative}\0{content}\n".encode())
    return digest.hexdigest()


def publish_export(target: Path, manifest: str, name: str, build: Callable[[Path], None]) -> Path:
    """``target`` once it holds a complete export (its ``manifest`` file, written last);
    otherwise ``build`` fills a staging folder beside it, published by an atomic rename, so
    that racing processes never see half a model. Shared by the embedder and the reranker."""
    if (target / manifest).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_staging(target.parent)
    # Same parent, so the rename below is atomic: a folder is either absent or complete.
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        logger.info("exporting %s to int8 ONNX (once per model) in %s", name, target)
        build(staging)
        try:
            staging.rename(target)
        except OSError:
            # Another process published first; its export is as good as ours.
            if not (target / manifest).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _remove_stale_staging(parent: Path) -> None:
    """Staging folders left by builds that were killed; a live build is far younger."""
    cutoff = time.time() - _STALE_STAGING_S
    for staging in parent.glob(".*"):
        with contextlib.suppress(OSError):
            if staging.is_dir() and staging.stat().st_mtime < cutoff:
                shutil.rmtree(staging, ignore_errors=True)


def export_int8(
    network: Any,
    sample: Any,
    inputs: list[str],
    output: str,
    dynamic: dict[str, dict[int, str]],
    out: Path,
) -> None:
    """Trace a Hugging Face ``network`` to ONNX (its ``inputs`` positional, its ``output``
    attribute as the one output, traced on the tokenizer's ``sample``) and write the int8
    quantisation as ``out / MODEL_FILE``: weights per channel, activations per row
    (:mod:`index.onnx_rowquant`); the fp32 intermediate is removed. Shared by the embedder and
    the reranker exports."""
    import onnx
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from index.onnx_rowquant import quantize_rows

    # Eager attention traces to MatMul, Add (the mask) and Softmax; the SDPA path traces to
    # the same plus IsNaN and Where over every batch x head x token x token score, which cost
    # a third of the CPU on 256-token passages (docs/benchmarks.md, 2026-12-03).
    _use_eager_attention(network)

    ids = torch.tensor(sample["input_ids"])
    example = tuple(
        torch.tensor(sample[n]) if n in sample else torch.zeros_like(ids) for n in inputs
    )

    class Positional(torch.nn.Module):
        """The exporter passes inputs by position; Hugging Face models want names."""

        def __init__(self) -> None:
            super().__init__()
            self.inner = network

        def forward(self, *args: torch.Tensor) -> torch.Tensor:
            return getattr(self.inner(**dict(zip(inputs, args, strict=True))), output)

    module = Positional().eval()
    fp32 = out / "model.fp32.onnx"
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent Python code
        # The TorchScript exporter: the dynamo one needs onnxscript, which we do not ship.
        torch.onnx.export(
            module,
            example,
            str(fp32),
            dynamo=False,
            input_names=inputs,
            output_names=[output],
            dynamic_axes=dynamic,
            opset_version=_OPSET,
        )
    # The quantiser logs a line per tensor on the root logger; keep that out of our logs.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    dynamic_int8 = out / "model.dynamic.onnx"
    try:
        quantize_dynamic(
            str(fp32), str(dynamic_int8), weight_type=QuantType.QInt8, per_channel=True
        )
    finally:
        root.setLevel(level)
    onnx.save(quantize_rows(onnx.load(str(dynamic_int8))), str(out / MODEL_FILE))
    dynamic_int8.unlink()
    fp32.unlink()
    for leftover in out.glob("*.data"):  # external-data files of the fp32 export
        leftover.unlink()


def _use_eager_attention(network: Any) -> None:
    """Plain attention in place of SDPA, on the network and its sub-models. A transformers
    without ``set_attn_implementation`` keeps the network as loaded: as right, only slower."""
    if hasattr(network, "set_attn_implementation"):
        network.set_attn_implementation("eager")
