"""One answer on its way to a route: its events, and exactly one audit record however it
ends (answered, failed, or abandoned by a client that went away)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

import anyio
import anyio.to_thread

from core.access import Principal
from core.errors import ZhikuError
from services.answer_limits import AnswerLease
from services.answer_types import AnswerEvent, Delta, Final, Prepared


class AnswerSource(Protocol):
    """What a stream needs of ``services.answers.AnswerService``."""

    def generate(self, prepared: Prepared) -> AsyncIterator[AnswerEvent]: ...

    def record(
        self,
        principal: Principal,
        prepared: Prepared,
        *,
        endpoint: str,
        final: Final | None,
        error: str | None = None,
        conversation_id: str | None = None,
        shown: str = "",
    ) -> str: ...


class AnswerStream:
    """One answer on its way: its events, and exactly one audit record however it ends
    (answered, failed, or abandoned by a client that went away)."""

    def __init__(
        self,
        service: AnswerSource,
        principal: Principal,
        prepared: Prepared,
        endpoint: str,
        conversation_id: str | None,
        lease: AnswerLease,
    ) -> None:
        self.prepared = prepared
        self._lease = lease
        self._service = service
        self._principal = principal
        self._endpoint = endpoint
        self._conversation_id = conversation_id
        self._events = service.generate(prepared)
        self._first: AnswerEvent | None = None
        self._shown: list[str] = []  # the text sent so far: kept as the turn if stopped
        self.answer_id: str | None = None

    async def start(self) -> None:
        try:
            self._first = await anext(self._events)
        except ZhikuError as exc:  # every backend down: audited, then a plain HTTP error
            await self.finish(None, str(exc))
            raise

    async def events(self) -> AsyncIterator[AnswerEvent]:
        assert self._first is not None, "start() first"
        yield self._first
        async for event in self._events:
            if isinstance(event, Delta):
                self._shown.append(event.text)
            yield event

    async def final(self) -> Final:
        """Run the answer to its end (a route that does not stream)."""
        async for event in self.events():
            if isinstance(event, Final):
                return event
        raise RuntimeError("the answer ended without a final event")

    async def finish(self, final: Final | None, error: str | None = None) -> str:
        """Write the audit record (once; later calls return the same id). Shielded, so a
        client that disconnects cancels the stream, not its record. Gives the answer's
        concurrency slot back once the model's stream is closed (an abandoned answer stops
        generating first, so the slot it frees is free at the model too)."""
        if self.answer_id is None:
            with anyio.CancelScope(shield=True):
                try:
                    await self._events.aclose()
                finally:
                    # Timed only where the model wrote it ("nothing found" asks no model).
                    self._lease.release(answered=final is not None and final.model is not None)
                self.answer_id = await anyio.to_thread.run_sync(
                    lambda: self._service.record(
                        self._principal,
                        self.prepared,
                        endpoint=self._endpoint,
                        final=final,
                        error=error,
                        conversation_id=self._conversation_id,
                        shown="".join(self._shown),
                    )
                )
        return self.answer_id
