"""The composition root: settings in, the process's object graph out, built once at start-up.

The API (``zhiku.app``), the Celery worker (``zhiku.worker``) and the command line all build
here, so every choice of implementation — embedded or server Qdrant, torch or ONNX, threads or
Celery — is made in this one readable place. Expensive components (the vector store, the
embedding model, the retriever over them) are ``Resource``s: declared here, opened on a
background thread by ``start()``, never on a request's event loop.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from functools import partial
from typing import TYPE_CHECKING

from core.db.group_commit import GroupCommitter
from core.db.served import lookup_served
from core.dispatch import Dispatcher
from core.errors import Component, Outage, UpstreamUnavailable
from core.rate_buckets import RedisBuckets
from core.resources import Resource
from core.settings import EmbeddingSettings, Settings
from core.slots import RedisSlots
from index.embedders import build_embedder
from index.embedding import Embedder
from index.generations import GenerationMismatch
from index.sparse import Bm25Encoder
from index.store import DimensionMismatch, VectorStore
from index.tokens import token_counter
from llm.runtime import AnswerModels
from retrieval.legs import LegRunner
from retrieval.search import Retriever
from retrieval.served import RememberedServed
from services.admin import AdminService
from services.answer_limits import BackendLoad
from services.answers import AnswerService
from services.audit import AuditService
from services.catalog import Services
from services.conversations import ConversationService
from services.documents import DocumentService
from services.health import HealthService
from services.identity import IdentityService
from services.oidc import OidcService
from services.pii import PiiPolicy
from services.rate_limits import RateLimiter
from services.reindex import ReindexService, open_serving_model
from services.search import SearchService
from services.sign_in import SignInService
from services.sources import SourceService
from workers.context import StageContext
from workers.isolation import IsolatedParser
from workers.local import LocalDispatcher
from workers.sweeper import reconcile_access
from zhiku.components import (
    build_blob_store,
    build_model,
    build_reranker,
    build_store,
    cookie_secure,
    parse_workers,
    retry_policy,
)
from zhiku.database import build_sessions
from zhiku.parsing import build_parse_fn

if TYPE_CHECKING:
    from workers.dispatch import CeleryDispatcher

log = logging.getLogger(__name__)


class Container:
    """Everything one process holds. ``role``: "api" (serves requests; in the embedded
    default it also runs ingestion), "worker" (a Celery worker process) or "cli"."""

    def __init__(self, settings: Settings, role: str = "api") -> None:
        self.settings = settings
        self.role = role
        self.sessions = build_sessions(settings)
        # Search's audit rows, committed in groups by one thread (core.db.group_commit).
        self.audit_writer = GroupCommitter(self.sessions, name="zhiku-audit-writer")
        self.blobs = build_blob_store(settings)
        self.sparse = Bm25Encoder()
        # The model is the live index generation's (services.reindex): opened with the store.
        self._served: Embedder | None = None
        self._served_error: Exception | None = None
        self.embedder_resource: Resource[Embedder] = Resource(
            "embedding model", self._serving_model, Component.EMBEDDING_MODEL
        )
        self.store_resource: Resource[VectorStore] = Resource(
            "vector store", self._open_store, Component.VECTOR_STORE
        )
        # Shared by every retriever this container builds (one per index generation).
        self.legs = LegRunner(settings.retrieval.leg_threads)
        self.retriever_resource: Resource[Retriever] = Resource(
            "retriever", self._build_retriever, Component.SEARCH
        )
        self.stage_context = StageContext(
            sessions=self.sessions,
            blobs=self.blobs,
            store_resource=self.store_resource,
            embedder_resource=self.embedder_resource,
            sparse=self.sparse,
            worker=settings.worker,
            upsert_batch=settings.qdrant.upsert_batch,
            worker_name=role if role != "worker" else f"{socket.gethostname()}:{os.getpid()}",
            pii=settings.pii,
            max_chunks_per_document=settings.parsing.max_chunks_per_document,
        )
        self.local: LocalDispatcher | None = None
        self.celery: CeleryDispatcher | None = None
        self.dispatcher: Dispatcher = self._build_dispatcher()
        self.models = AnswerModels(settings) if role == "api" else None
        self._services: Services | None = None
        self.reindex = ReindexService(
            self.sessions,
            self.store_resource,
            self.sparse,
            settings.embedding,
            self._model_for,
            on_switched=self._serve_model,
        )

    # --- components

    @property
    def store(self) -> VectorStore:
        return self.stage_context.store

    @property
    def embedder(self) -> Embedder:
        return self.stage_context.embedder

    def _model_for(self, embedding: EmbeddingSettings) -> Embedder:
        try:
            return build_embedder(embedding, self.settings.model_cache_path)
        except UpstreamUnavailable:
            raise
        except Exception as exc:  # reported as the model's outage, not the store's
            log.exception("the embedding model could not be opened")
            raise UpstreamUnavailable(
                f"the embedding model could not be opened: {type(exc).__name__}: {exc}",
                component=Component.EMBEDDING_MODEL,
            ) from exc

    def _open_store(self) -> VectorStore:
        """The store, and the model its live generation was built with. A model that does
        not match leaves the store open (``zhiku admin reindex`` needs it) and search down."""
        store = build_store(self.settings)
        if self.settings.qdrant.url:  # a server: another process may switch its generation
            from index.qdrant_server import QdrantServerStore

            if isinstance(store, QdrantServerStore):
                store.on_generation_change = self._forget_model
        try:
            self._served = open_serving_model(
                store, self.settings.embedding, self.sparse, self._model_for
            )
            self._served_error = None
        except (GenerationMismatch, DimensionMismatch) as exc:
            log.error("%s", exc)
            self._served, self._served_error = None, exc
        except BaseException:
            store.close()  # the next try opens it again (an embedded folder takes one opener)
            raise
        return store

    def _serving_model(self) -> Embedder:
        if not self.owns_store():
            return build_model(self.settings)
        store = self.store
        if self._served is None and self._served_error is None:  # the generation changed
            self._served = open_serving_model(
                store, self.settings.embedding, self.sparse, self._model_for
            )
        if self._served is None:
            raise self._served_error or RuntimeError("no embedding model")
        return self._served

    def _forget_model(self) -> None:
        """Another generation is live: the next use opens the model that built it."""
        self._served, self._served_error = None, None
        self.embedder_resource.reset()
        self.retriever_resource.reset()

    def _serve_model(self, embedder: Embedder) -> None:
        """After a re-index switched generations: this process embeds with the new model."""
        self._served, self._served_error = embedder, None
        self.embedder_resource.reset()
        self.retriever_resource.reset()

    def owns_store(self) -> bool:
        """Whether this process may open the vector store: always with a Qdrant server; with
        the embedded engine only where ingestion runs (one process per folder)."""
        return bool(self.settings.qdrant.url) or self.local is not None or self.role == "worker"

    def _build_dispatcher(self) -> Dispatcher:
        """Celery when a broker is configured; otherwise threads in this process (embedded)."""
        settings = self.settings
        if settings.redis_url:
            from workers.dispatch import CeleryDispatcher

            self.celery = CeleryDispatcher(settings)
            return self.celery
        parsers = [IsolatedParser(settings, build_parse_fn) for _ in range(parse_workers(settings))]
        lane = None  # the small-file lane's parser: its child runs only while large files hold
        if settings.parsing.small_file_lane:  # the others (workers.small_file_lane)
            lane = IsolatedParser(settings, build_parse_fn)
        self.local = LocalDispatcher(self.stage_context, parsers, retry_policy(settings), lane)
        return self.local

    def _build_retriever(self) -> Retriever:
        if not self.owns_store():
            raise UpstreamUnavailable(
                "search needs the vector store, which the ingestion worker holds in this set-up"
                " (an embedded store opens in one process): configure a Qdrant server"
                " (ZHIKU_QDRANT__URL) or run the embedded default",
                component=Component.VECTOR_STORE,
                outage=Outage.NOT_CONFIGURED,
            )
        return Retriever(
            self.store,
            self.embedder,
            self.sparse,
            self.settings.retrieval,
            reranker=build_reranker(self.settings),
            # A served version stays served: its "yes" is kept for a while (retrieval.served).
            served=RememberedServed(partial(lookup_served, self.sessions)),
            legs=self.legs,
        )

    # --- application services (the API's and the command line's)

    @property
    def services(self) -> Services:
        if self._services is None:
            self._services = self._build_services()
        return self._services

    def answer_load(self) -> list[BackendLoad]:
        """The answering backend's answers and capacity, for ``/metrics`` (nothing before the
        services are built: a scrape does not build them)."""
        return self._services.answers.backend_load() if self._services is not None else []

    def _build_services(self) -> Services:
        settings, sessions = self.settings, self.sessions
        models = self.models or AnswerModels(settings)
        pii = PiiPolicy(sessions, settings.pii)  # each tenant's redaction of what is served
        sign_in = SignInService(
            sessions, settings.secret_key, settings.web, cookie_secure=cookie_secure(settings)
        )
        return Services(
            identity=IdentityService(
                sessions, settings.secret_key, cache_s=settings.web.principal_cache_s
            ),
            documents=DocumentService(
                sessions, self.blobs, self.store_resource, self.dispatcher, settings.limits
            ),
            search=SearchService(sessions, self.retriever_resource, self.audit_writer, pii),
            answers=AnswerService(
                sessions,
                self.retriever_resource,
                models,
                token_counter(settings.embedding),
                settings.retrieval,
                settings.llm,
                RedisSlots(settings.redis_url) if settings.redis_url else None,
                pii=pii,
            ),
            conversations=ConversationService(sessions, settings.retrieval.history_messages),
            audit=AuditService(sessions),
            sources=SourceService(sessions, self.blobs, pii),
            admin=AdminService(sessions, settings.secret_key),
            health=HealthService(
                sessions,
                self.celery.ping if self.celery is not None else None,
                self.store_resource if self.owns_store() else None,
                self.models,
            ),
            sign_in=sign_in,
            oidc=OidcService(
                sessions,
                settings.oidc,
                default_tenant=settings.web.default_tenant,
                secret_key=settings.secret_key,
                sign_in=sign_in,
            )
            if settings.oidc.enabled
            else None,
            rate_limits=RateLimiter(
                settings.rate_limits,
                RedisBuckets(settings.redis_url, timeout_s=settings.rate_limits.redis_timeout_s)
                if settings.redis_url
                else None,
            ),
        )

    # --- lifetime

    def start(self, sweep: bool = True) -> None:
        """Start what runs in the background: the answer model, in-process ingestion, and the
        opening of the store, the model and the retriever (so no request waits to build
        them, and none builds them on the event loop)."""
        _ = self.services
        if self.models is not None:
            self.models.start()
        if self.local is not None:
            maintenance = self.settings.maintenance
            self.local.start(
                sweep=sweep,
                cleanup=self.remove_orphans if maintenance.remove_orphans else None,
                cleanup_every_s=maintenance.interval_s,
            )
            log.info("embedded mode: ingestion runs in this process")
        if self.owns_store() and self.role == "api":
            self.retriever_resource.warm()
            if self.local is None or not sweep:
                # No sweeper here (Celery does the ingestion): still, an access change whose
                # process died after its commit is written to the store at this start.
                threading.Thread(
                    target=self.reconcile_access, name="zhiku-access-reconcile", daemon=True
                ).start()

    def remove_orphans(self) -> object:
        """Files and vectors whose document is gone (``workers.maintenance``); the embedded
        default's sweeper runs it, Celery beat does elsewhere."""
        from datetime import timedelta

        from workers.maintenance import remove_orphans

        grace = timedelta(seconds=self.settings.maintenance.orphan_grace_s)
        store = self.store if self.owns_store() else None
        return remove_orphans(self.sessions, self.blobs, store, grace)

    def reconcile_access(self) -> None:
        """Write the committed access list of every document whose store copy is behind."""
        try:
            reconcile_access(self.sessions, lambda: self.store.set_document_access)
        except Exception:  # the store may still be down: the next start, or a sweep, retries
            log.warning("access lists could not be brought in line at start", exc_info=True)

    def close(self) -> None:
        if self.local is not None:
            self.local.stop()
        self.audit_writer.close()  # after the last request: commits what is queued
        self.legs.close()
        store = self.store_resource.reset()
        if store is not None:
            store.close()  # type: ignore[attr-defined]

    async def aclose(self) -> None:
        self.close()
        if self.models is not None:
            await self.models.aclose()


def build_container(settings: Settings, role: str = "api") -> Container:
    return Container(settings, role)
