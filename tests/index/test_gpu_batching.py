"""The torch (GPU) embedding path: batches cut by padded size, fp16 (issue 14, item 3).

No GPU here: the batching is checked for what it promises, and the torch backend on the CPU
gives the same vectors batched by tokens as by count, in fp16 as in fp32 (within 1e-3).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from index.embedding import SentenceTransformerEmbedder, token_batches

TEXTS = [
    "龙井茶产于杭州西湖一带。",
    "The VPN client needs the Zhiku-Office profile before it connects to the intranet.",
    "報銷流程：先在系統中提交申請，再由部門經理審批，最後財務付款。" * 3,
    "short",
    "Insulin resistance in skeletal muscle precedes type 2 diabetes by years. " * 6,
    "合同第三条规定，乙方应在收到货款后五个工作日内开具增值税专用发票。",
]


@given(
    counts=st.lists(st.integers(min_value=0, max_value=600), max_size=60),
    max_texts=st.integers(min_value=1, max_value=40),
    budget=st.integers(min_value=1, max_value=4000),
)
def test_token_batches_hold_every_text_once_within_the_budget(
    counts: list[int], max_texts: int, budget: int
) -> None:
    batches = token_batches(counts, max_texts, budget)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(len(counts)))
    assert [counts[i] for i in flat] == sorted(counts)  # shortest first
    for batch in batches:
        assert len(batch) <= max_texts
        padded = len(batch) * max(max(counts[i] for i in batch), 1)
        assert padded <= budget or len(batch) == 1


def test_batches_by_tokens_and_fp16_give_the_same_vectors() -> None:
    plain = SentenceTransformerEmbedder(device="cpu", batch_size=4)
    half = SentenceTransformerEmbedder(
        device="cpu", batch_size=4, batch_tokens=96, precision="fp16"
    )
    assert plain.precision == "fp32" and half.precision == "fp16"
    reference = plain.embed_documents(TEXTS)
    plain.batch_tokens = 96
    for embedder, floor in ((plain, 0.99999), (half, 0.999)):
        vectors = embedder.embed_documents(TEXTS)
        assert vectors.dtype == np.float32 and vectors.shape == reference.shape
        cosines = np.sum(vectors * reference, axis=1)
        assert cosines.min() >= floor, (embedder.precision, cosines)
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    query = half.embed_query("杭州的茶")
    assert abs(float(np.dot(query, plain.embed_query("杭州的茶"))) - 1.0) < 1e-3
