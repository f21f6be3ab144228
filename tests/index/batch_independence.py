"""The check both embedders' tests make: a text's vector is the same alone, among short texts,
or in one batch padded to a long text's length (int8 activations are quantised per row,
``index.onnx_rowquant``, not per batch)."""

from __future__ import annotations

import numpy as np
import pytest

from index import embedding_onnx
from index.embedding_onnx import OnnxEmbedder


def assert_vectors_independent_of_batch(
    embedder: OnnxEmbedder, short: list[str], long_text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert embedder.token_count(long_text) > embedder.max_tokens
    alone = np.stack([embedder.embed_documents([text])[0] for text in short])
    among_short = embedder.embed_documents(short)
    # Everything in one batch: a call dearer than any padding, no cap on the padded tokens.
    monkeypatch.setattr(embedding_onnx, "CALL_TOKENS", 1e9)
    monkeypatch.setattr(embedder, "_batch_tokens", None)
    beside_long = embedder.embed_documents([long_text, *short])[1:]
    # Bit for bit where measured (AVX-512); the tolerance leaves room for float rounding in
    # attention over the padded length on other CPUs. Per-batch scales moved them by ~1e-2.
    np.testing.assert_allclose(among_short, alone, rtol=0, atol=1e-3)
    np.testing.assert_allclose(beside_long, alone, rtol=0, atol=1e-3)
