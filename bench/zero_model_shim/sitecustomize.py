"""A measurement shim, not part of the product: with ``ZERO_MODEL=1`` and this folder first on
``PYTHONPATH``, every process started (``zhiku serve`` and its parse child included) gets an
ONNX embedder that returns constant vectors at no cost, with the real model's identity, so a
deployment's CPU is everything but the model (docs/benchmarks.md, issue 12, session 20):

    ZERO_MODEL=1 PYTHONPATH=bench/zero_model_shim:$PWD python -m bench.ingest_profile \
        --corpus xquad-r-zh --limit 1000
"""

import os

if os.environ.get("ZERO_MODEL") == "1":
    import numpy as np

    from index import embedding_onnx

    def _zero(self, texts):  # type: ignore[no-untyped-def]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        out[:, 0] = 1.0
        return out

    embedding_onnx.OnnxEmbedder.embed_documents = _zero
