"""A re-index switches generations between a worker's embedding and its upsert, on both store
backends (the server's through qdrant-client's in-process stand-in): the chunks embedded by
the replaced model are refused by the store and embedded again by the live one, so the new
generation holds only its own model's vectors, and no chunk or document is lost."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from core.db import documents as doc_queries
from core.db import identity
from core.db.session import transaction
from index import types as fields
from index.store import Scope
from services.reindex import ReindexService
from tests.files import long_text
from tests.index.contract.generations import tiny_vector
from tests.support import make_settings
from tests.workers.helpers import new_doc
from tests.workers.test_stages import run_embed_stage, run_parse_stage, stage_context
from workers import embed_stage
from workers.context import Outcome
from zhiku.container import build_parse_fn
from zhiku.database import build_sessions


class HashModel:
    """The re-index's model: hashed terms, the size of the served one, so only the recorded
    generation tells its vectors from the old model's."""

    name = "hash-model"
    model_key = "hash-v1"
    batch_size, concurrency, max_tokens = 4, 1, 256

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([tiny_vector(t, self.dim) for t in texts], dtype=np.float32)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]

    def token_count(self, text: str) -> int:
        return len(text.split())


@pytest.fixture(params=["embedded", "server"])
def env(request, tmp_path):  # type: ignore[no-untyped-def]
    settings = make_settings(
        tmp_path,
        embedding={"batch_size": 4},
        worker={"stale_after_s": 60},
        qdrant={"url": ":memory:" if request.param == "server" else ""},
    )
    build_sessions(settings, migrate=True)
    svc, container = stage_context(settings)
    with transaction(svc.sessions) as s:
        tenant = identity.create_tenant(s, "switch")
        principal = identity.principal_for(identity.create_user(s, tenant.id, "u"))
    model = HashModel(svc.embedder.dim)
    reindex = ReindexService(
        container.sessions,
        container.store_resource,
        container.sparse,
        settings.embedding,
        lambda _: model,  # type: ignore[arg-type,return-value]
        on_switched=container._serve_model,
    )
    yield svc, build_parse_fn(settings), principal, lambda: reindex.run(None), model
    container.close()


class Once:
    """The re-index, run by the first call only."""

    def __init__(self, action: Callable[[], Any]) -> None:
        self._action, self.done = action, False

    def __call__(self) -> None:
        if not self.done:
            self.done = True
            self._action()


def _assert_the_new_models_vectors(svc, principal, doc_id: str, model: HashModel) -> None:  # type: ignore[no-untyped-def]
    chunks = svc.store.document_chunks(Scope.admin(principal.tenant_id), doc_id, True)
    assert chunks
    with svc.sessions() as s:
        doc = doc_queries.get_document(s, doc_id)
        assert (doc.status, doc.chunks_done) == ("ready", len(chunks))
    texts = [str(c.payload[fields.TEXT]) for c in chunks]
    expected = model.embed_documents(texts)
    for chunk, vector in zip(chunks, expected, strict=True):
        assert chunk.dense == pytest.approx(vector.tolist(), abs=1e-4)


def test_a_slice_embedded_before_the_switch_is_embedded_again_by_the_new_model(
    env, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    svc, parse, principal, reindex, model = env
    doc_id = new_doc(svc, principal, long_text(6, seed=14))
    assert run_parse_stage(svc, doc_id, 1, parse) is Outcome.EMBED_NEXT
    switch = Once(reindex)
    real_write = embed_stage._write_slice

    def switch_then_write(*args: Any) -> None:
        switch()  # the slice's vectors are the old model's; its upsert comes after the switch
        real_write(*args)

    monkeypatch.setattr(embed_stage, "_write_slice", switch_then_write)
    assert run_embed_stage(svc, doc_id, 1) is Outcome.DONE
    assert switch.done
    _assert_the_new_models_vectors(svc, principal, doc_id, model)


def test_a_twin_copied_across_the_switch_is_embedded_by_the_new_model(
    env, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """Identical bytes already indexed: their vectors are read before the switch and would
    be copied after it."""
    svc, parse, principal, reindex, model = env
    text = "Pump 7 in hall B was serviced on Monday. 七号泵已于周一完成保养。"
    source = new_doc(svc, principal, text)
    assert run_parse_stage(svc, source, 1, parse) is Outcome.EMBED_NEXT
    assert run_embed_stage(svc, source, 1) is Outcome.DONE
    copy = new_doc(svc, principal, text)
    assert run_parse_stage(svc, copy, 1, parse) is Outcome.EMBED_NEXT
    store = svc.store
    switch = Once(reindex)
    real_read = store.document_chunks

    def read_then_switch(*args: Any, **kwargs: Any) -> Any:
        found = real_read(*args, **kwargs)
        if kwargs.get("with_vectors"):
            switch()
        return found

    monkeypatch.setattr(store, "document_chunks", read_then_switch)
    assert run_embed_stage(svc, copy, 1) is Outcome.DONE
    assert switch.done
    monkeypatch.undo()
    _assert_the_new_models_vectors(svc, principal, copy, model)
