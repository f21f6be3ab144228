"""The token counter the chunker budgets with: the configured embedding model's tokenizer,
special tokens excluded, never truncated, loaded once per model."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from tokenizers import Tokenizer, models, pre_tokenizers

from core.settings import EmbeddingSettings
from index.models import PACKAGED_MINILM, default_model_dir
from index.tokens import TOKENIZER_FILE, model_tokenizer, token_counter

TEXTS = [
    "",
    "Hello, world!",
    "知识库检索",
    "Vaccines train the immune system; 疫苗训练免疫系统。",
    "alpha " * 2000,  # far beyond any model window: never truncated
]


def test_default_counts_content_tokens_only() -> None:
    count = token_counter(EmbeddingSettings(model=PACKAGED_MINILM))
    assert count("") == 0
    assert count("hello world") == 2
    assert count("知识库") == 3  # one word piece per Chinese character
    assert count("alpha " * 2000) == 2000


def test_a_copy_of_the_packaged_tokenizer_counts_the_same(tmp_path: Path) -> None:
    shutil.copy(default_model_dir() / TOKENIZER_FILE, tmp_path / TOKENIZER_FILE)
    packaged = token_counter(EmbeddingSettings(model=PACKAGED_MINILM))
    copied = token_counter(EmbeddingSettings(model=str(tmp_path)))
    assert [copied(text) for text in TEXTS] == [packaged(text) for text in TEXTS]


def test_counter_follows_the_configured_model_folder(tmp_path: Path) -> None:
    """A folder with a different tokenizer (whole words): its counts, not MiniLM's."""
    words = Tokenizer(models.WordLevel({"[UNK]": 0, "hello": 1}, unk_token="[UNK]"))
    words.pre_tokenizer = pre_tokenizers.Whitespace()
    words.save(str(tmp_path / TOKENIZER_FILE))
    count = token_counter(EmbeddingSettings(model=str(tmp_path)))
    assert count("hello unbelievably long words") == 4
    assert (
        token_counter(EmbeddingSettings(model=PACKAGED_MINILM))("hello unbelievably long words") > 4
    )


def test_tokenizer_is_loaded_once_and_counts_from_threads(tmp_path: Path) -> None:
    shutil.copy(default_model_dir() / TOKENIZER_FILE, tmp_path / TOKENIZER_FILE)
    assert model_tokenizer(str(tmp_path)) is model_tokenizer(str(tmp_path))
    count = token_counter(EmbeddingSettings(model=str(tmp_path)))
    expected = [count(text) for text in TEXTS]
    results: list[list[int]] = []
    threads = [
        threading.Thread(target=lambda: results.append([count(t) for t in TEXTS * 20]))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [expected * 20] * 4
