"""Domain errors, without HTTP codes: ``api`` maps them to statuses, ``workers`` to retries."""

from __future__ import annotations

from enum import StrEnum


class ZhikuError(Exception):
    """Base of every error this code raises on purpose."""


class NotFound(ZhikuError):
    pass


class PermissionDenied(ZhikuError):
    pass


class Unauthenticated(ZhikuError):
    pass


class InvalidInput(ZhikuError):
    """The caller sent something we refuse (bad file, bad filter, over a limit)."""


class Conflict(ZhikuError):
    pass


class UnprocessableDocument(ZhikuError):
    """A document that can never be ingested as it is: retrying will not help."""


class Component(StrEnum):
    """What an ``UpstreamUnavailable`` is about: the only thing about it a caller may read."""

    ANSWER_MODEL = "answer_model"
    EMBEDDING_MODEL = "embedding_model"
    VECTOR_STORE = "vector_store"
    SEARCH = "search"  # the retriever over the store and the models (with its reranker)
    JOB_QUEUE = "job_queue"
    DATABASE = "database"
    FILE_STORE = "file_store"  # where uploaded files are kept (core.blobs)
    SERVICE = "service"  # none of the above; prefer naming one

    @property
    def words(self) -> str:
        """The component in plain words, for callers and for documents' error fields."""
        return _COMPONENT_WORDS[self]


_COMPONENT_WORDS = {
    Component.ANSWER_MODEL: "the answer model",
    Component.EMBEDDING_MODEL: "the embedding model",
    Component.VECTOR_STORE: "the search index",
    Component.SEARCH: "search",
    Component.JOB_QUEUE: "the job queue",
    Component.DATABASE: "the database",
    Component.FILE_STORE: "the file store",
    Component.SERVICE: "a service this request needs",
}


class Outage(StrEnum):
    """How a component is unavailable, where the raise site knows."""

    DOWN = "down"  # failing or unreachable now; worth retrying later
    STARTING = "starting"  # still opening after a start-up; retrying soon will work
    NOT_CONFIGURED = "not_configured"  # this set-up lacks it; retrying will not help


class UpstreamUnavailable(ZhikuError):
    """A dependency (broker, vector store, model server) is down or slow: worth retrying.

    The message is the internal detail (hosts, the library's own error) for logs and audit
    records only; callers read words made from ``component`` and ``outage`` alone."""

    # Subclasses for one component (the LLM client's) set their own default.
    component: Component = Component.SERVICE

    def __init__(
        self,
        detail: str,
        *,
        component: Component | None = None,
        outage: Outage = Outage.DOWN,
    ) -> None:
        super().__init__(detail)
        if component is not None:
            self.component = component
        self.outage = outage

    @property
    def detail(self) -> str:
        """The internal detail: for the log, never for the caller."""
        return str(self)


class UnsupportedFormat(UnprocessableDocument):
    """A file type Zhiku does not parse."""


class TooManyRequests(ZhikuError):
    """The caller is over a concurrency or rate cap: try again after ``retry_after_s``."""

    def __init__(self, message: str, retry_after_s: int = 10) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
