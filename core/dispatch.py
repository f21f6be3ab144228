"""How a document is handed to ingestion: the one thing uploads need from the workers.

The embedded default runs the stages on threads of the serving process
(``workers.local.LocalDispatcher``); a deployment with a broker sends Celery messages
(``workers.dispatch.CeleryDispatcher``). Both conform to this protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple, Protocol


class QueuedDocument(NamedTuple):
    """A document version handed to ingestion. The tenant lets the runner share its time
    fairly between tenants: one tenant's large upload does not hold back another's file; the
    size (``None``: not known) lets it parse a small file beside a large one's long parse."""

    doc_id: str
    version: int
    tenant_id: str = ""
    size_bytes: int | None = None


class Dispatcher(Protocol):
    def parse(self, doc_id: str, version: int) -> None: ...

    def embed(self, doc_id: str, version: int) -> None: ...

    def parse_many(self, documents: Sequence[QueuedDocument]) -> None:
        """Queue several documents for parsing at once (one upload request: with a broker,
        a few messages for the lot rather than one per file)."""
        ...
