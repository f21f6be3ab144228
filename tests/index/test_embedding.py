"""Dense embedders on the real packaged model: torch reference and the cached int8 ONNX export
(their agreement on real abstracts is in test_retrieval_quality.py)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from core.settings import EmbeddingSettings
from index import embedding_onnx
from index.embedders import build_embedder
from index.embedding import Embedder, SentenceTransformerEmbedder
from index.embedding_onnx import MANIFEST, OnnxEmbedder, ensure_onnx_model
from index.models import DEFAULT_MODEL_NAME, PACKAGED_MINILM, UnsupportedModel, default_model_dir
from index.onnx_export import MODEL_FILE, model_key
from index.tokens import token_counter
from tests.index.batch_independence import assert_vectors_independent_of_batch
from tests.support import scifact_passages

SENTENCES = [
    "Vaccines train the immune system to recognise a pathogen.",
    "Preheat the oven and bake the bread for forty minutes.",
    "Qdrant stores dense and sparse vectors side by side.",
]


@pytest.fixture(scope="module")
def torch_embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(device="cpu")


@pytest.fixture(scope="module")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model cache of this test run's own; the export in it is built once (~10-20 s)."""
    cache = tmp_path_factory.mktemp("model-cache")
    ensure_onnx_model("", cache)
    return cache


@pytest.fixture(scope="module")
def onnx_embedder(onnx_cache: Path) -> OnnxEmbedder:
    return OnnxEmbedder.from_model("", onnx_cache)


@pytest.fixture(params=["torch", "onnx"])
def embedder(request: pytest.FixtureRequest) -> Embedder:
    return request.getfixturevalue(f"{request.param}_embedder")


@pytest.fixture(scope="module")
def passages() -> list[str]:
    """Real SciFact abstracts, most of them longer than the 256-token window."""
    return scifact_passages()


def test_vectors_are_unit_length_float32_rows(embedder: Embedder) -> None:
    assert isinstance(embedder, Embedder)
    assert embedder.dim == 384
    assert embedder.name == DEFAULT_MODEL_NAME
    vectors = embedder.embed_documents(SENTENCES)
    assert vectors.shape == (len(SENTENCES), 384)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    query = embedder.embed_query("how do vaccines work")
    assert query.shape == (384,) and query.dtype == np.float32
    assert abs(float(np.linalg.norm(query)) - 1.0) < 1e-5


def test_empty_batch_gives_empty_matrix(embedder: Embedder) -> None:
    assert embedder.embed_documents([]).shape == (0, 384)


def test_deterministic_and_independent_of_batch_order(embedder: Embedder) -> None:
    first = embedder.embed_documents(SENTENCES)
    again = embedder.embed_documents(SENTENCES)
    np.testing.assert_allclose(first, again, atol=1e-6)
    np.testing.assert_array_equal(embedder.embed_documents(SENTENCES[::-1])[::-1], first)
    # Embedded alone, each text keeps its vector (int8 too: activation scales are per row).
    alone = np.stack([embedder.embed_documents([text])[0] for text in SENTENCES])
    assert (alone * first).sum(axis=1).min() > 0.9999


def test_query_lands_nearest_the_relevant_text(embedder: Embedder) -> None:
    documents = embedder.embed_documents(SENTENCES)
    for query, expected in [
        ("how does immunisation protect people", 0),
        ("baking recipe", 1),
        ("vector database", 2),
    ]:
        assert int(np.argmax(documents @ embedder.embed_query(query))) == expected


def test_token_count_is_the_model_tokenizers_count(embedder: Embedder) -> None:
    reference = Tokenizer.from_file(str(default_model_dir() / "tokenizer.json"))
    reference.no_truncation()
    reference.no_padding()
    # What the chunker budgets with: the same count, from the tokenizer alone.
    chunker_count = token_counter(EmbeddingSettings(model=PACKAGED_MINILM))
    long_text = " ".join(SENTENCES) * 40  # far beyond the window: must not be truncated
    for text in ["", "Hello, world!", "知识库检索", "知识库检索：Qdrant 存储向量。", long_text]:
        expected = len(reference.encode(text, add_special_tokens=False).ids)
        assert embedder.token_count(text) == expected
        assert chunker_count(text) == expected
    assert embedder.token_count(long_text) > 3 * embedder.max_tokens


def test_window_holds_max_tokens_content_tokens(embedder: Embedder) -> None:
    assert embedder.max_tokens == 256
    filler = "alpha " * (embedder.max_tokens - 1)
    full = filler + "omega"
    assert embedder.token_count(full) == embedder.max_tokens
    [full_vector] = embedder.embed_documents([full])
    [with_tail] = embedder.embed_documents([full + " zeta" * 40])
    [without_last] = embedder.embed_documents([filler])
    # The tail is cut off; the last content token is not.
    np.testing.assert_allclose(with_tail, full_vector, atol=1e-6)
    assert not np.allclose(without_last, full_vector, atol=1e-4)


def test_batches_end_before_a_much_longer_text() -> None:
    sizes = [3, 5, 8, 9, 10, 11, 12, 30, 35, 36, 37, 400]
    batches = embedding_onnx.cut_batches(range(len(sizes)), sizes, batch_size=4)
    # Texts under MIN_BATCH_TOKENS (8) count as that long; padding 10-12 to 30-37 would cost
    # more than a call; a batch holds at most batch_size (4) texts.
    assert batches == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9, 10], [11]]
    assert embedding_onnx.cut_batches([], [], batch_size=4) == []


def test_a_sparse_band_joins_the_next_when_its_padding_costs_less_than_a_call() -> None:
    """The cut is the cheapest by ``batch_cost``: a lone short text is padded into the next
    band's batch (16 tokens of padding < a call's CALL_TOKENS), a band of three is not (3 x 6
    = 18 tokens > a call), and neither is a band much longer than the one before."""
    assert embedding_onnx.CALL_TOKENS == 17
    sizes = [20, *[36] * 10, 60, 61, 62]
    batches = embedding_onnx.cut_batches(range(len(sizes)), sizes, batch_size=32)
    assert batches == [list(range(11)), [11, 12, 13]]
    sizes = [30, 30, 30, *[36] * 10]
    batches = embedding_onnx.cut_batches(range(len(sizes)), sizes, batch_size=32)
    assert batches == [[0, 1, 2], list(range(3, 13))]
    # The texts keep their order (shortest first), each in exactly one batch.
    order = [5, 2, 7, 0]
    batches = embedding_onnx.cut_batches(order, [9, 0, 9, 0, 0, 9, 0, 9], batch_size=32)
    assert batches == [order]


def test_a_batch_ends_before_its_padded_tokens_pass_the_budget() -> None:
    """Many texts of one length: batches of as many as fit ``BATCH_TOKENS`` (512), not of
    ``batch_size``; a text longer than the budget still gets a batch of its own."""
    assert embedding_onnx.BATCH_TOKENS == 512
    sizes = [40] * 30 + [600]
    batches = embedding_onnx.cut_batches(range(len(sizes)), sizes, batch_size=32)
    assert [len(b) for b in batches] == [12, 12, 6, 1]  # 12 x 40 = 480; 13 x 40 = 520
    assert [i for b in batches for i in b] == list(range(len(sizes)))
    # Unbounded (a GPU): batch_size alone, as before.
    uncapped = embedding_onnx.cut_batches(range(30), [40] * 30, batch_size=32, max_tokens=None)
    assert [len(b) for b in uncapped] == [30]


SHORT = {
    "zh": ["知识库检索。", "向量数据库存储稠密向量。", "維生素D的作用", "Qdrant 存储向量。"],
    "en": ["Vaccines work.", "Bake the bread.", "Qdrant stores vectors.", "Sparse and dense."],
}


@pytest.mark.parametrize("language", sorted(SHORT))
def test_a_texts_vector_does_not_depend_on_its_batch(
    onnx_embedder: OnnxEmbedder,
    passages: list[str],
    monkeypatch: pytest.MonkeyPatch,
    language: str,
) -> None:
    """Alone, among short texts, or in one batch padded to a long text's length: the same
    vector (int8 activations are quantised per row, not per batch)."""
    short = SHORT[language]
    long_text = passages[0] if language == "en" else "".join(SHORT["zh"]) * 30
    assert_vectors_independent_of_batch(onnx_embedder, short, long_text, monkeypatch)


@pytest.mark.parametrize("short", list(SHORT.values()))
def test_a_long_text_does_not_pad_the_short_ones(
    onnx_embedder: OnnxEmbedder, passages: list[str], short: list[str]
) -> None:
    """A long text goes to a batch of its own: the short texts beside it get the vectors they
    get without it (the same batch), and are not padded to its length."""
    alone = onnx_embedder.embed_documents(short)
    mixed = onnx_embedder.embed_documents([passages[0], *short])
    np.testing.assert_array_equal(mixed[1:], alone)


def test_parallel_batches_give_the_vectors_of_sequential_ones(
    onnx_cache: Path, passages: list[str]
) -> None:
    """Side-by-side batches (one thread each) are cut exactly as sequential ones, so every
    text gets the same vector, in the caller's order, whichever worker ran its batch."""
    sequential = OnnxEmbedder.from_model("", onnx_cache, batch_size=5, threads=1)
    parallel = OnnxEmbedder.from_model("", onnx_cache, batch_size=5, threads=3)
    assert (sequential.concurrency, parallel.concurrency) == (1, 3)
    texts = passages + SENTENCES
    expected = sequential.embed_documents(texts)
    results: list[np.ndarray] = []
    callers = [
        threading.Thread(target=lambda: results.append(parallel.embed_documents(texts)))
        for _ in range(3)
    ]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join()
    assert len(results) == 3
    for vectors in results:
        np.testing.assert_allclose(vectors, expected, atol=1e-6)


def test_second_build_reuses_the_export(onnx_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    [export_dir] = (onnx_cache / "onnx").iterdir()
    model_file = export_dir / MODEL_FILE
    stamp = model_file.stat().st_mtime_ns

    def refuse(folder: Path, out: Path) -> None:
        raise AssertionError("the cached export should have been reused")

    monkeypatch.setattr(embedding_onnx, "_export_quantized", refuse)
    assert ensure_onnx_model("", onnx_cache) == export_dir
    OnnxEmbedder.from_model("", onnx_cache)
    assert model_file.stat().st_mtime_ns == stamp
    assert [p.name for p in (onnx_cache / "onnx").iterdir()] == [export_dir.name]


def test_racing_builds_publish_one_complete_export(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "tiny-model"
    model.mkdir()
    (model / "config.json").write_text("{}")
    both_exporting = threading.Barrier(2, timeout=10)

    def fake_export(folder: Path, out: Path) -> None:
        (out / MODEL_FILE).write_text(threading.current_thread().name)
        both_exporting.wait()  # neither has published yet
        (out / MANIFEST).write_text("{}")

    monkeypatch.setattr(embedding_onnx, "_export_quantized", fake_export)
    cache = tmp_path / "cache"
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(ensure_onnx_model(str(model), cache)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(results) == 2 and results[0] == results[1]
    assert (results[0] / MANIFEST).is_file() and (results[0] / MODEL_FILE).is_file()
    # The loser's staging folder is gone; only the published export remains.
    assert [p.name for p in (cache / "onnx").iterdir()] == [results[0].name]


def test_cache_key_follows_model_files(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"one")
    first = model_key(tmp_path, "recipe/v1")
    assert model_key(tmp_path, "recipe/v1") == first
    assert model_key(tmp_path, "recipe/v2") != first
    (tmp_path / "weights.bin").write_bytes(b"two")
    assert model_key(tmp_path, "recipe/v1") != first


def test_pooling_config_is_read_in_both_layouts() -> None:
    assert embedding_onnx._pooling_mode({"pooling_mode": "mean", "include_prompt": True}) == "mean"
    legacy = {
        "word_embedding_dimension": 384,
        "pooling_mode_cls_token": True,
        "pooling_mode_mean_tokens": False,
    }
    assert embedding_onnx._pooling_mode(legacy) == "cls"
    with pytest.raises(UnsupportedModel):
        embedding_onnx._pooling_mode({"pooling_mode": "lasttoken"})


def test_build_embedder_picks_backend(onnx_cache: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="index.embedders")
    auto = build_embedder(
        EmbeddingSettings(model=PACKAGED_MINILM, device="cpu", threads=1), onnx_cache
    )
    assert isinstance(auto, OnnxEmbedder)
    assert "embedding backend onnx (requested auto) on cpu" in caplog.text
    forced = build_embedder(
        EmbeddingSettings(model=PACKAGED_MINILM, backend="torch", device="cpu"), onnx_cache
    )
    assert isinstance(forced, SentenceTransformerEmbedder)
    vectors = [e.embed_documents(SENTENCES) for e in (auto, forced)]
    assert (vectors[0] * vectors[1]).sum(axis=1).min() > 0.97
