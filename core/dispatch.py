"""How a document is handed to ingestion: the one thing uploads need from the workers.

The embedded default runs the stages on threads of the serving process
(``workers.local.LocalDispatcher``); a deployment with a broker sends Celery messages
(``workers.dispatch.CeleryDispatcher``). Both conform to this protocol.
"""

from __future__ import annotations

from typing import Protocol


class Dispatcher(Protocol):
    def parse(self, doc_id: str, version: int) -> None: ...

    def embed(self, doc_id: str, version: int) -> None: ...
