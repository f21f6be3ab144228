"""The int8 ONNX embedder's lean form: one plain tokenizer per process and model, shared with
the chunker's counter, with truncation and padding done by the embedder (what a configured
copy did, token for token), and the token vectors late interaction reads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from core.settings import Settings
from index.embedding_onnx import OnnxEmbedder, ensure_onnx_model
from index.models import resolve_model
from index.packaged_e5 import PACKAGED_E5
from index.tokens import TOKENIZER_FILE, model_tokenizer, shared_tokenizer
from tests.support import scifact_passages

MIXED = [
    "",
    "短",
    "長城是中國古代的軍事防禦工程，全長兩萬多公里。",
    "本合同的 Force Majeure（不可抗力）条款规定，因地震导致的违约可以免责。",
    "ＡＢＣ１２３　全角字符 and ASCII ～",
    "word " * 700,
    "中文" * 400,
]


@pytest.fixture(scope="module")
def cache_dir() -> Path:
    """The real model cache (the e5 folder and exports are built once per machine)."""
    return Settings(environment="test").model_cache_path


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return scifact_passages()[:12] + MIXED


@pytest.fixture(scope="module")
def minilm(cache_dir: Path) -> OnnxEmbedder:
    return OnnxEmbedder.from_model("", cache_dir, threads=2)


@pytest.mark.parametrize("model", ["", PACKAGED_E5])
def test_a_packaged_models_own_tokenizer_tokenizes_as_its_exports_copy(
    model: str, cache_dir: Path, texts: list[str]
) -> None:
    """The embedder of a packaged model reads the model folder's tokenizer.json (the file the
    chunker's counter reads) instead of the export's copy; they must give the same tokens."""
    source, _ = resolve_model(model, cache_dir)
    own = Tokenizer.from_file(str(Path(source) / TOKENIZER_FILE))
    export = Tokenizer.from_file(str(ensure_onnx_model(model, cache_dir) / TOKENIZER_FILE))
    for tokenizer in (own, export):  # as shared_tokenizer loads them
        tokenizer.no_truncation()
        tokenizer.no_padding()
    for text in texts:
        assert own.encode(text).ids == export.encode(text).ids, text[:40]


def test_the_embedder_and_the_chunkers_counter_share_one_tokenizer(minilm: OnnxEmbedder) -> None:
    assert minilm._tokenizer is model_tokenizer("")
    again = OnnxEmbedder.from_model("", Settings(environment="test").model_cache_path)
    assert again._tokenizer is minilm._tokenizer


def test_shared_tokenizer_is_one_per_content_and_never_truncates(tmp_path: Path) -> None:
    source = Path(resolve_model("")[0]) / TOKENIZER_FILE
    copy = tmp_path / TOKENIZER_FILE
    copy.write_bytes(source.read_bytes())
    assert shared_tokenizer(copy) is shared_tokenizer(source)
    assert shared_tokenizer(copy).truncation is None and shared_tokenizer(copy).padding is None


def test_truncation_and_padding_match_a_configured_tokenizer(
    minilm: OnnxEmbedder, texts: list[str]
) -> None:
    """What ``enable_truncation(window)`` + ``enable_padding()`` on a copy used to give."""
    window = minilm._content + 2  # [CLS] ... [SEP]
    configured = Tokenizer.from_str(minilm._tokenizer.to_str())
    configured.enable_truncation(max_length=window)
    configured.enable_padding(pad_id=minilm._pad_id)
    expected = configured.encode_batch(texts)
    columns = minilm._encode(texts)
    assert columns["input_ids"].shape == (len(texts), window)
    assert columns["input_ids"].tolist() == [e.ids for e in expected]
    assert columns["attention_mask"].tolist() == [e.attention_mask for e in expected]
    assert columns["token_type_ids"].tolist() == [e.type_ids for e in expected]
    assert minilm._tokenizer.truncation is None  # the shared tokenizer was left alone


def test_token_vectors_come_from_the_same_pass(minilm: OnnxEmbedder, texts: list[str]) -> None:
    vectors, tokens = minilm.embed_with_tokens(texts)
    assert np.array_equal(vectors, minilm.embed_documents(texts))
    for text, matrix in zip(texts, tokens, strict=True):
        content = min(minilm.token_count(text), minilm.max_tokens)
        assert matrix.shape == (content + 2, minilm.dim) and matrix.dtype == np.float16
        assert np.allclose(np.linalg.norm(matrix.astype(np.float32), axis=1), 1.0, atol=2e-3)
    query, (query_tokens,) = minilm.embed_with_tokens(["维生素D的作用"], kind="query")
    assert np.array_equal(query[0], minilm.embed_query("维生素D的作用"))
    assert len(query_tokens) == minilm.token_count("维生素D的作用") + 2


@pytest.mark.parametrize("arena", ["off", "on"])
def test_the_arena_setting_leaves_the_vectors_alone(
    arena: str, minilm: OnnxEmbedder, texts: list[str], cache_dir: Path
) -> None:
    other = OnnxEmbedder.from_model("", cache_dir, threads=2, arena=arena)
    assert np.allclose(other.embed_documents(texts), minilm.embed_documents(texts), atol=1e-6)
