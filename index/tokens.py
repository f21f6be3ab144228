"""Token counting with the configured embedding model's own tokenizer.

One convention everywhere: the word pieces of the text itself, special tokens ([CLS], [SEP])
excluded, never truncated. That is what ``EmbeddingSettings.max_tokens`` and
``ChunkingSettings.chunk_tokens`` budget; the embedders add room for the special tokens to
their window. The chunker gets its counter from :func:`token_counter` (the tokenizer alone,
no model weights); the embedders count with :func:`count_tokens` on their own tokenizer.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer

from core.settings import EmbeddingSettings
from index.models import UnsupportedModel, resolve_model

TOKENIZER_FILE = "tokenizer.json"

_lock = threading.Lock()
_tokenizers: dict[str, Tokenizer] = {}
# Plain tokenizers by their file's content: the chunker's counter and the embedder share one
# (multilingual-e5's 250k-piece unigram costs ~280 MiB per loaded copy in ``tokenizers``).
_by_content: dict[str, Tokenizer] = {}
_content_lock = threading.Lock()  # taken inside ``_lock`` (model_tokenizer -> _load)


def count_tokens(tokenizer: Tokenizer, text: str) -> int:
    """Content tokens of ``text``; ``tokenizer`` must not truncate (see :func:`plain_copy`)."""
    return len(tokenizer.encode(text, add_special_tokens=False).ids)


def plain_copy(tokenizer: Tokenizer) -> Tokenizer:
    """An independent copy without truncation or padding. Counting with it is thread-safe:
    encoding never changes it, unlike a Hugging Face wrapper that reconfigures its backend on
    every call."""
    copy = Tokenizer.from_str(tokenizer.to_str())
    copy.no_truncation()
    copy.no_padding()
    return copy


def shared_tokenizer(path: Path) -> Tokenizer:
    """The plain tokenizer in ``path`` (a ``tokenizer.json``), loaded once per process for
    each distinct content. It must never be given truncation or padding: callers share it."""
    data = Path(path).read_bytes()
    key = hashlib.sha256(data).hexdigest()
    with _content_lock:
        tokenizer = _by_content.get(key)
        if tokenizer is None:
            tokenizer = Tokenizer.from_str(data.decode("utf-8"))
            tokenizer.no_truncation()
            tokenizer.no_padding()
            _by_content[key] = tokenizer
    return tokenizer


def model_tokenizer(model: str) -> Tokenizer:
    """The plain tokenizer of ``model`` ("" = the packaged default), loaded once per model."""
    with _lock:
        tokenizer = _tokenizers.get(model)
        if tokenizer is None:
            tokenizer = _tokenizers[model] = _load(model)
    return tokenizer


# Texts whose counts one counter remembers: the chunker's sentence splitter counts the same
# sentences and pieces again as it merges them (a fifth of what it counts on SciFact).
COUNTS_KEPT = 1024


def token_counter(settings: EmbeddingSettings) -> Callable[[str], int]:
    """``count(text)``: the content tokens the configured embedding model sees. Thread-safe."""
    count = functools.partial(count_tokens, model_tokenizer(settings.model))
    return functools.lru_cache(maxsize=COUNTS_KEPT)(count)


def _load(model: str) -> Tokenizer:
    source, _ = resolve_model(model)
    folder = Path(source)
    if (folder / TOKENIZER_FILE).is_file():
        return shared_tokenizer(folder / TOKENIZER_FILE)
    # A folder with only the slow tokenizer's files: transformers converts it.
    tokenizer = _converted(source) if folder.is_dir() else Tokenizer.from_pretrained(source)
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def _converted(folder: str) -> Tokenizer:
    from transformers import AutoTokenizer

    hf_tokenizer: Any = AutoTokenizer.from_pretrained(folder)
    if not getattr(hf_tokenizer, "is_fast", False):
        raise UnsupportedModel(f"{folder}: no {TOKENIZER_FILE} and no fast tokenizer to count with")
    return Tokenizer.from_str(hf_tokenizer.backend_tokenizer.to_str())
