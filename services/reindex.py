"""Re-indexing with another embedding model, and which model a process serves at start.

The index is shared by every tenant, so a re-index is an operator's act over all of them:
one at a time per process (a second is a 409), audited in every tenant's log, its progress
readable while it runs. It builds the new generation beside the live one
(:func:`index.generations.rebuild`) on a background thread of the process that owns the store
(the API server in the embedded default), which keeps answering with the old generation and
its model until the switch, then with the new ones.

At start (:func:`open_serving_model`) a process embeds with the model that built the live
generation, as recorded in the store, even when the configuration names another: queries are
never embedded by a model other than the one that made the vectors, and an installation whose
configuration changed keeps answering until ``zhiku admin reindex`` switches it. A recorded
model that cannot be rebuilt the same way (its files changed) is refused with that advice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

from core.db.events import record_event_in_every_tenant
from core.db.session import SessionFactory, transaction
from core.errors import Conflict, NotFound
from core.resources import Resource
from core.settings import EmbeddingSettings
from index.embedding import Embedder
from index.generations import (
    Generation,
    GenerationMismatch,
    Progress,
    identity_of,
    next_generation,
    rebuild,
)
from index.models import PRE_GENERATIONS_MODEL
from index.script_parts import embed_with_parts
from index.sparse import SparseEncoder
from index.store import VectorStore
from index.types import SparseVector

log = logging.getLogger(__name__)

BuildModel = Callable[[EmbeddingSettings], Embedder]
REINDEX_COMMAND = "zhiku admin reindex"


def recipe_of(settings: EmbeddingSettings) -> dict[str, str]:
    """What, in the settings, chooses the vectors: the model and the backend."""
    return {"model": settings.model, "backend": settings.backend}


def serving_settings(configured: EmbeddingSettings, live: Generation | None) -> EmbeddingSettings:
    """The configured settings, with the live generation's model where it differs."""
    if live is None or not live.recipe or live.recipe == recipe_of(configured):
        return configured
    log.warning(
        "the index was built by %s; the configuration names %s: serving the index's model "
        "until `%s` switches it",
        live.recipe,
        recipe_of(configured),
        REINDEX_COMMAND,
    )
    return configured.model_copy(update=live.recipe)


def _holds_vectors(store: VectorStore) -> bool:
    try:
        return bool(store.document_ids())
    except NotFound:  # the server backend before its first collection
        return False


def open_serving_model(
    store: VectorStore, configured: EmbeddingSettings, sparse: SparseEncoder, build: BuildModel
) -> Embedder:
    """The model to embed with for this store: the live generation's (see the module)."""
    ops = store.generations()
    live = ops.live_generation()
    settings = serving_settings(configured, live)
    if live is None and "model" not in configured.model_fields_set and _holds_vectors(store):
        # Vectors written before generations recorded their model came from that era's
        # default model unless the configuration named one: adopting today's default for
        # them would embed queries with a model that did not make the vectors (same size,
        # so nothing else would notice).
        settings = configured.model_copy(update={"model": PRE_GENERATIONS_MODEL})
        log.warning(
            "the index predates recorded generations: serving it with %s, the default then; "
            "run `%s` to re-embed it with %s",
            PRE_GENERATIONS_MODEL or "the packaged MiniLM",
            REINDEX_COMMAND,
            configured.model,
        )
    embedder = build(settings)
    # A new index takes the configured layout; an existing one keeps its own.
    store.ensure_collection(embedder.dim, configured.vector_layout)
    identity = identity_of(embedder, sparse)
    if live is None:
        # An index made before generations (or none yet): this model's, as it always was.
        ops.adopt(Generation(1, identity, recipe_of(settings), store.vector_layout()))
    elif replace(live.model, sparse=identity.sparse) != identity:
        raise GenerationMismatch(
            f"the index was built by {live.model.describe()}, and the model configured now is "
            f"{identity.describe()}: run `{REINDEX_COMMAND}` to re-embed it, or configure the "
            "model that built it"
        )
    if store.vector_layout() != configured.vector_layout:
        log.warning(
            "the index holds its dense vectors as %r, the configuration names %r: serving "
            "the index as it is until `%s` rebuilds it",
            store.vector_layout(),
            configured.vector_layout,
            REINDEX_COMMAND,
        )
    if live is not None and live.model.sparse != identity.sparse:
        # Only the keyword side's tokens changed (e.g. Traditional folded to Simplified): the
        # old vectors still answer, a little worse for the new cases, so serve and say so.
        log.warning(
            "the index's keyword vectors were made by %s, this version encodes with %s: "
            "run `%s` to re-encode them",
            live.model.sparse,
            identity.sparse,
            REINDEX_COMMAND,
        )
    return embedder


@dataclass
class ReindexStatus:
    """What ``GET /v1/admin/index/reindex`` shows. ``state``: idle, running, done, failed."""

    state: str = "idle"
    phase: str = ""
    generation: int = 0
    model: str = ""
    layout: str = ""
    done: int = 0
    total: int = 0
    passes: int = 0
    embedded: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    error: str | None = None

    def public(self) -> dict[str, Any]:
        return asdict(self)


class ReindexService:
    def __init__(
        self,
        sessions: SessionFactory,
        store: Resource[VectorStore],
        sparse: SparseEncoder,
        configured: EmbeddingSettings,
        build: BuildModel,
        on_switched: Callable[[Embedder], None] = lambda _: None,
        batch: int = 64,
    ) -> None:
        """``on_switched``: the new model, for this process to serve once it is live."""
        self._sessions = sessions
        self._store = store
        self._sparse = sparse
        self._configured = configured
        self._build = build
        self._on_switched = on_switched
        self._batch = batch
        self._lock = threading.Lock()
        self._status = ReindexStatus()
        self._thread: threading.Thread | None = None

    def status(self) -> ReindexStatus:
        with self._lock:
            return ReindexStatus(**asdict(self._status))

    def start(self, actor: tuple[str, str] | None) -> ReindexStatus:
        """Re-embed with the configured model, on a background thread; :class:`Conflict`
        while one runs. ``actor``: (tenant, user) of the admin who asked; None: the operator."""
        settings = self._configured
        self._claim(settings)
        self._audit_or_release(actor, settings)
        self._thread = threading.Thread(
            target=self._run_quietly, args=(settings,), name="zhiku-reindex", daemon=True
        )
        self._thread.start()
        return self.status()

    def run(
        self,
        actor: tuple[str, str] | None,
        report: Callable[[ReindexStatus], None] = lambda _: None,
    ) -> ReindexStatus:
        """The same, on this thread (the command line with no server running)."""
        settings = self._configured
        self._claim(settings)
        self._audit_or_release(actor, settings)
        self._run(settings, report)
        return self.status()

    def _claim(self, settings: EmbeddingSettings) -> None:
        with self._lock:
            if self._status.state == "running":
                raise Conflict("a re-index is already running: follow it with its status")
            self._status = ReindexStatus(
                state="running",
                phase="loading the model",
                model=settings.model or "(packaged)",
                layout=settings.vector_layout,
                started_at=time.time(),
            )

    def _audit_or_release(self, actor: tuple[str, str] | None, settings: EmbeddingSettings) -> None:
        try:
            self._audit(actor, settings)
        except BaseException as exc:  # not started: nothing may stay "running"
            with self._lock:
                self._status.state, self._status.error = "failed", f"not audited: {exc}"
            raise

    def _audit(self, actor: tuple[str, str] | None, settings: EmbeddingSettings) -> None:
        """One event in every tenant's log: the index, and so the change, is theirs too."""
        with transaction(self._sessions) as session:
            record_event_in_every_tenant(
                session,
                actor,
                "index.reindex",
                "index",
                "vectors",
                requested_in=actor[0] if actor else None,
                **recipe_of(settings),
            )

    def _run_quietly(self, settings: EmbeddingSettings) -> None:
        try:
            self._run(settings, lambda _: None)
        except Exception:  # recorded in the status; the old generation stays live
            log.exception("re-index failed")

    def _run(self, settings: EmbeddingSettings, report: Callable[[ReindexStatus], None]) -> None:
        try:
            embedder = self._build(settings)
            store = self._store.get()
            ops = store.generations()
            layout = settings.vector_layout
            identity = identity_of(embedder, self._sparse)
            target = next_generation(ops, identity, recipe_of(settings), layout)

            def encode(
                texts: list[str],
            ) -> tuple[list[list[float]], list[SparseVector], list[list[list[float]]]]:
                vectors, parts = embed_with_parts(embedder, texts, layout)
                return vectors.tolist(), self._sparse.encode_documents(texts), parts

            def progress(step: Progress) -> None:
                with self._lock:
                    self._status.phase = step.phase
                    self._status.generation = step.generation
                    self._status.done, self._status.total = step.done, step.total
                    self._status.passes, self._status.embedded = step.passes, step.embedded
                report(self.status())

            # Swapped while writes are still paused: this process's next write embeds with it.
            switched = lambda: self._on_switched(embedder)  # noqa: E731
            rebuild(ops, target, encode, progress, batch=self._batch, switched=switched)
        except Exception as exc:
            with self._lock:
                self._status.state, self._status.error = "failed", f"{type(exc).__name__}: {exc}"
                self._status.finished_at = time.time()
            report(self.status())
            raise
        with self._lock:
            self._status.state, self._status.finished_at = "done", time.time()
        report(self.status())
