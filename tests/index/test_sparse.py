"""BM25 sparse encoding: tokens, stable term ids, weights (retrieval on real Chinese data is
in test_retrieval_quality.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest

from index import sparse
from index.sparse import Bm25Encoder, SparseEncoder, term_id, tokenize
from index.types import SparseVector
from tests.support import REPO_ROOT


def test_english_tokens_are_lowercased_stemmed_and_keep_numbers() -> None:
    tokens = tokenize("The Running dogs of COVID-19 in 2020, and ＡＢＣ full-width.")
    assert tokens == ["run", "dog", "covid", "19", "2020", "abc", "full", "width"]


def test_chinese_text_yields_chinese_words() -> None:
    tokens = tokenize("我们在北京大学学习机器学习。Qdrant 支持稀疏向量！")
    for word in ["北京", "大学", "北京大学", "学习", "机器", "qdrant", "稀疏", "向量"]:
        assert word in tokens
    assert not any(t.strip("。！，, ") == "" for t in tokens)


def test_empty_and_stop_word_text_give_empty_vectors() -> None:
    encoder = Bm25Encoder()
    for text in ["", "   ", "。，！?!", "the of and to"]:
        assert encoder.encode_query(text) == SparseVector(indices=[], values=[])
        assert encoder.encode_documents([text]) == [SparseVector(indices=[], values=[])]


def test_document_weights_follow_bm25_saturation() -> None:
    k1, b, avg_len = 1.2, 0.75, 4.0
    encoder = Bm25Encoder(k1=k1, b=b, avg_len=avg_len)
    [vector] = encoder.encode_documents(["cat cat cat dog fish fish"])
    weights = dict(zip(vector.indices, vector.values, strict=True))
    length = 6
    norm = k1 * (1 - b + b * length / avg_len)
    for word, tf in [("cat", 3), ("dog", 1), ("fish", 2)]:
        assert weights[term_id(word)] == pytest.approx(tf * (k1 + 1) / (tf + norm))
    assert len(weights) == 3
    assert vector.indices == sorted(vector.indices)


def test_longer_documents_weigh_a_term_less() -> None:
    encoder = Bm25Encoder()
    short, long = encoder.encode_documents(["quantum", "quantum " + "filler words " * 100])
    assert (
        short.values[short.indices.index(term_id("quantum"))]
        > long.values[long.indices.index(term_id("quantum"))]
    )


def test_query_has_one_unit_weight_per_distinct_term() -> None:
    vector = Bm25Encoder().encode_query("vector search vector 向量 向量")
    assert sorted(vector.indices) == vector.indices
    assert len(set(vector.indices)) == len(vector.indices) == 3
    assert vector.values == [1.0, 1.0, 1.0]


def test_query_and_document_share_ids_for_shared_words() -> None:
    encoder = Bm25Encoder()
    query = encoder.encode_query("running dogs 北京")
    [document] = encoder.encode_documents(["A dog runs through Beijing (北京) every morning."])
    assert set(query.indices) <= set(document.indices)


def test_term_ids_are_stable_across_processes() -> None:
    words = ["dog", "北京大学", "2020", "qdrant"]
    script = (
        "import json, sys; from index.sparse import Bm25Encoder, term_id;"
        f"print(json.dumps([[term_id(w) for w in {words!r}],"
        " Bm25Encoder().encode_query('dog 北京大学 2020').indices]))"
    )
    seen = set()
    for seed in ["1", "2"]:  # different str hash seeds: ids must not depend on them
        output = subprocess.run(
            [sys.executable, "-c", script],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONHASHSEED": seed},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        seen.add(output.strip())
    here = json.dumps(
        [[term_id(w) for w in words], Bm25Encoder().encode_query("dog 北京大学 2020").indices]
    )
    assert seen == {here}
    assert all(0 <= i < 2**32 for i in json.loads(here)[0])


def test_colliding_terms_are_merged(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sparse, "term_id", lambda term: 7)
    encoder = Bm25Encoder()
    assert encoder.encode_query("apple banana").indices == [7]
    [document] = encoder.encode_documents(["apple banana"])
    assert document.indices == [7] and len(document.values) == 1


def test_encoder_is_thread_safe_and_conforms() -> None:
    encoder = Bm25Encoder()
    assert isinstance(encoder, SparseEncoder)
    texts = [f"第{i}章 机器学习与信息检索 chapter {i} retrieval" for i in range(40)]
    expected = encoder.encode_documents(texts)
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(lambda t: encoder.encode_documents([t])[0], texts)) == expected


def test_invalid_parameters_are_refused() -> None:
    with pytest.raises(ValueError):
        Bm25Encoder(b=1.5)
    with pytest.raises(ValueError):
        Bm25Encoder(avg_len=0)
