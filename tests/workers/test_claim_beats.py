"""Claims kept alive by heartbeats while a stage runs long (a slow parse, a slice in a loaded
model), and a run that lost its claim stopping at its next beat: the ingestion stages called
directly, as in test_stages."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from core.db import documents as doc_queries
from core.db import identity
from core.db import jobs as job_queries
from core.db.session import transaction
from core.resources import ready
from tests.files import long_text
from tests.support import make_settings
from tests.workers.helpers import new_doc
from tests.workers.test_stages import run_embed_stage, run_parse_stage, stage_context, stored_chunks
from workers.context import Outcome
from zhiku.container import build_parse_fn
from zhiku.database import build_sessions


def test_a_long_parse_keeps_its_claim_alive(tmp_path: Path) -> None:
    """While one long call runs, the heartbeat keeps the claim fresh, so no sweeper takes
    the document from a live worker."""
    import time as clock

    settings = make_settings(tmp_path, worker={"stale_after_s": 5})
    build_sessions(settings, migrate=True)
    svc, container = stage_context(settings)
    with transaction(svc.sessions) as s:
        tenant = identity.create_tenant(s, "beat")
        principal = identity.principal_for(identity.create_user(s, tenant.id, "u"))
    doc_id = new_doc(svc, principal, "slow")
    seen: list[object] = []

    def slow_parse(data: bytes, filename: str):  # type: ignore[no-untyped-def]
        for _ in range(3):
            clock.sleep(1.6)
            with svc.sessions() as s:
                seen.append(doc_queries.get_document(s, doc_id).heartbeat_at)
        return build_parse_fn(settings)(data, filename)

    assert run_parse_stage(svc, doc_id, 1, slow_parse) is Outcome.EMBED_NEXT
    assert len(set(seen)) >= 2  # the heartbeat moved while parsing ran
    container.close()


class _SlowModel:
    """The real model, with ``during(call number)`` run inside each call: a slice that takes
    long in a loaded model, or something that happens meanwhile."""

    def __init__(self, inner, during) -> None:  # type: ignore[no-untyped-def]
        self._inner, self._during = inner, during
        self._lock = threading.Lock()
        self.calls = 0
        # The wrapped model's identity (generations.identity_of): its vectors are that model's.
        self.model_key = getattr(inner, "model_key", None) or type(inner).__name__

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._inner, name)

    def embed_documents(self, texts):  # type: ignore[no-untyped-def]
        with self._lock:
            self.calls += 1
            call = self.calls
        self._during(call)
        return self._inner.embed_documents(texts)


def _beating(tmp_path: Path, doc_text: str):  # type: ignore[no-untyped-def]
    """A parsed document, claims stale after 5 s (a beat each second), 8 texts a slice."""
    settings = make_settings(
        tmp_path,
        embedding={"batch_size": 4, "threads": 2},
        worker={"stale_after_s": 5},
    )
    build_sessions(settings, migrate=True)
    svc, container = stage_context(settings)
    with transaction(svc.sessions) as s:
        tenant = identity.create_tenant(s, "beat")
        principal = identity.principal_for(identity.create_user(s, tenant.id, "u"))
    doc_id = new_doc(svc, principal, doc_text)
    assert run_parse_stage(svc, doc_id, 1, build_parse_fn(settings)) is Outcome.EMBED_NEXT
    return svc, container, principal, doc_id


def test_a_slice_longer_than_stale_after_keeps_its_claim(tmp_path: Path) -> None:
    """The claim is kept fresh while a slice is in the model, however long: a claim fresh
    only between slices went stale on a loaded machine, and the sweeper gave the document to
    a second run (after a database restart, two runs kept taking it from each other)."""
    svc, container, _, doc_id = _beating(tmp_path, long_text(12, seed=40))
    tried: list[dict[str, str]] = []

    def during(call: int) -> None:
        if call == 1:
            time.sleep(6.5)  # past stale_after_s
            # What the sweeper, or another worker's message, would try now.
            with transaction(svc.sessions) as s:
                tried.append(doc_queries.claim_many(s, [(doc_id, 1)], timedelta(seconds=5)))

    slow = replace(svc, embedder_resource=ready(_SlowModel(svc.embedder, during)))
    assert run_embed_stage(slow, doc_id, 1) is Outcome.DONE
    assert tried == [{}]  # the live claim was respected
    container.close()


def test_a_run_whose_claim_was_taken_stops_at_the_next_beat(tmp_path: Path) -> None:
    """A run that lost its claim while a slice was in the model embeds no further slice and
    writes nothing: it stops at the next beat, not when it would next have written."""
    svc, container, principal, doc_id = _beating(tmp_path, long_text(80, seed=41))
    with svc.sessions() as s:
        total = doc_queries.get_document(s, doc_id).chunks_total

    def during(call: int) -> None:
        if call == 1:
            with transaction(svc.sessions) as s:  # another run takes the document over
                assert doc_queries.claim_many(s, [(doc_id, 1)], timedelta(seconds=-1))
            time.sleep(3.5)  # a few beats

    model = _SlowModel(svc.embedder, during)
    slow = replace(svc, embedder_resource=ready(model))
    step = model.batch_size * model.concurrency
    assert total > 2 * step, (total, step)  # slices left after the two in the model
    assert run_embed_stage(slow, doc_id, 1) is Outcome.SKIPPED
    assert model.calls == 2, model.calls  # only the slices already in the model
    assert stored_chunks(svc, principal, doc_id) == []
    with svc.sessions() as s:
        assert doc_queries.get_document(s, doc_id).chunks_done == 0
        embedding = [j for j in job_queries.jobs_for(s, doc_id) if j.stage == "embedding"]
    assert [j.status for j in embedding] == ["superseded"]
    container.close()
