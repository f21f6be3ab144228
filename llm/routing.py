"""Roles (``answer``, ``rewrite``) mapped to backends in order of preference, with failover.

    router = LlmRouter.from_settings(settings.llm, extra_backends=[server.backend_settings()])
    completion = await router.complete("answer", messages, max_tokens=400)
    async for event in router.stream("answer", messages):
        match event:
            case StreamStart(backend=b, model=m): ...   # exactly once, first
            case TextDelta(text=t): ...
            case StreamEnd(finish_reason=r): ...        # exactly once, last
    await router.aclose()

A backend that is down or slow (after its own retries) hands the request to the next one,
as long as nothing has been streamed yet; when every backend of the role has failed,
:class:`core.errors.UpstreamUnavailable` names them all.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence

from core.errors import Component, NotFound, UpstreamUnavailable
from core.settings_llm import LlmBackendSettings, LlmSettings
from llm.client import (
    BackendUnavailable,
    Completion,
    LlmClient,
    Message,
    Sampling,
    StreamEvent,
)


class LlmRouter:
    def __init__(
        self, clients: Sequence[LlmClient], routes: Mapping[str, Sequence[str]] | None = None
    ) -> None:
        if not clients:
            raise ValueError("no LLM backend configured (and no local server registered)")
        self._clients = {client.name: client for client in clients}
        if len(self._clients) != len(clients):
            raise ValueError(f"duplicate LLM backend names: {[c.name for c in clients]}")
        self._routes: dict[str, list[LlmClient]] = {}
        for role, names in (routes or {}).items():
            unknown = [name for name in names if name not in self._clients]
            if unknown:
                raise ValueError(f"route {role!r} names unknown LLM backends {unknown}")
            if names:
                self._routes[role] = [self._clients[name] for name in names]

    @classmethod
    def from_settings(
        cls, settings: LlmSettings, extra_backends: Iterable[LlmBackendSettings] = ()
    ) -> LlmRouter:
        """Configured backends first, then ``extra_backends`` (the local server, when the
        composition root started one)."""
        backends = [*settings.backends, *extra_backends]
        return cls([LlmClient(backend) for backend in backends], settings.routes)

    def backends_for(self, role: str, model: str | None = None) -> list[LlmClient]:
        """The role's backends in order; ``model`` (a backend name or model id) narrows them."""
        candidates = self._routes.get(role) or list(self._clients.values())
        if model is None:
            return candidates
        chosen = [c for c in candidates if model in (c.name, c.model)]
        if not chosen:
            raise NotFound(f"no LLM backend named or serving {model!r}; known: {self.models()}")
        return chosen

    def models(self) -> list[str]:
        """Names a caller may pass as ``model``: every backend's name, in configured order."""
        return list(self._clients)

    async def complete(
        self,
        role: str,
        messages: Sequence[Message],
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
        sampling: Sampling | None = None,
    ) -> Completion:
        """The whole answer from the first backend of ``role`` that gives one.

        ``max_tokens`` defaults to each backend's own setting. Raises ``UpstreamUnavailable``
        when all fail, ``LlmRequestRejected`` (an ``InvalidInput``) when one refuses the
        request itself, ``NotFound`` for an unknown ``model``.
        """
        failures: list[str] = []
        for client in self.backends_for(role, model):
            try:
                return await client.complete(
                    messages,
                    max_tokens=max_tokens,
                    temperature=temperature,
                    stop=stop,
                    sampling=sampling,
                )
            except BackendUnavailable as exc:
                failures.append(str(exc))
        raise _all_down(role, failures)

    async def stream(
        self,
        role: str,
        messages: Sequence[Message],
        *,
        model: str | None = None,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
        sampling: Sampling | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """``StreamStart`` (backend and model), ``TextDelta``s, ``StreamEnd``.

        Failover happens before the first event; a failure after it raises
        ``llm.client.StreamInterrupted`` (an ``UpstreamUnavailable``).
        """
        failures: list[str] = []
        for client in self.backends_for(role, model):
            stream = client.stream(
                messages,
                max_tokens=max_tokens,
                temperature=temperature,
                stop=stop,
                sampling=sampling,
            )
            # aclosing: a caller that stops reading (client gone) closes the HTTP stream.
            async with contextlib.aclosing(stream) as events:
                try:
                    first = await anext(events)
                except BackendUnavailable as exc:
                    failures.append(str(exc))
                    continue
                yield first
                async for event in events:
                    yield event
                return
        raise _all_down(role, failures)

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()


def _all_down(role: str, failures: list[str]) -> UpstreamUnavailable:
    return UpstreamUnavailable(
        f"no LLM backend answered for {role!r}: " + "; ".join(failures or ["none tried"]),
        component=Component.ANSWER_MODEL,
    )
