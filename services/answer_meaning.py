"""How close in meaning a sentence of an answer is to each passage it may cite.

The attributor (:mod:`llm.attribution`) asks this only of sentences that restate the
question, where shared words cannot tell passages apart. The passages are embedded once per
answer, on a worker thread, from the moment the answer starts: the model reads its prompt
(seconds on a CPU) and writes its first sentence meanwhile, and the vectors cost a fraction of
that (~0.1-0.3 s of CPU for a handful of passages). A sentence that ends before they are ready
is judged by its words alone: attribution never makes the stream wait. The vectors are the
retrieval model's, the one that found the passages."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from index.embedding import Embedder

log = logging.getLogger(__name__)

# Few threads: passages are embedded once per answer, and answers are few at a time.
_EMBEDDING = ThreadPoolExecutor(max_workers=2, thread_name_prefix="answer-meaning")


class PassageMeaning:
    """``meaning(sentence)``: its cosine to each passage, or None while (or if) the
    passages' vectors are not there. ``wait_s``: how long a call may wait for them (0 in the
    product: the event loop must not block; a benchmark replaying saved answers waits)."""

    def __init__(self, embedder: Embedder, passages: Sequence[str], wait_s: float = 0.0) -> None:
        self._embedder = embedder
        self._wait_s = wait_s
        self._vectors: Future[np.ndarray] = _EMBEDDING.submit(
            embedder.embed_documents, list(passages)
        )

    def __call__(self, sentence: str) -> list[float] | None:
        vectors = self._vectors
        if not vectors.done() and self._wait_s <= 0:
            return None
        try:
            passages = vectors.result(timeout=self._wait_s)
            query = self._embedder.embed_query(sentence)
        except Exception:  # not ready, or failed: attribution by words alone
            log.debug("no meaning for attribution", exc_info=True)
            return None
        return [float(x) for x in np.asarray(passages) @ np.asarray(query)]

    def close(self) -> None:
        """Drops the vectors' computation if it has not started (an answer that ended)."""
        self._vectors.cancel()
