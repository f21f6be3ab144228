"""A component that is expensive to open (a vector store, a model), built once per process.

The composition root declares each one with how to build it; ``warm()`` builds it on a
background thread at start-up, and ``get()`` returns it, waiting for the build when it is still
running. Callers on an event loop must call ``get()`` from a worker thread: a request never
builds a model on the loop, and the loop keeps answering (``/health/live``) meanwhile.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from core.errors import Component, UpstreamUnavailable

T = TypeVar("T")
log = logging.getLogger(__name__)


class Resource(Generic[T]):
    def __init__(
        self, name: str, build: Callable[[], T], component: Component = Component.SERVICE
    ) -> None:
        """``component``: what a caller is told is unavailable when the build fails."""
        self.name = name
        self.component = component
        self._build = build
        self._value: T | None = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def status(self) -> str:
        """ "ok", "starting" (not built yet) or "unavailable"."""
        if self._value is not None:
            return "ok"
        return "unavailable" if self._error is not None else "starting"

    def get(self) -> T:
        """The component, built now if nobody has built it yet. A failed build is retried on
        the next call (the cause may have been transient), and reported as unavailable."""
        if self._value is not None:
            return self._value
        with self._lock:
            if self._value is None:
                try:
                    self._value = self._build()
                    self._error = None
                except UpstreamUnavailable:
                    raise
                except Exception as exc:
                    self._error = exc
                    log.exception("%s could not be opened", self.name)
                    raise UpstreamUnavailable(
                        f"the {self.name} could not be opened: {type(exc).__name__}: {exc}",
                        component=self.component,
                    ) from exc
            return self._value

    def warm(self) -> None:
        """Build on a background thread (once), so the first request does not wait for it."""
        with self._lock:
            if self._thread is not None or self._value is not None:
                return
            self._thread = threading.Thread(
                target=self._warm, name=f"zhiku-warm-{self.name}", daemon=True
            )
            self._thread.start()

    def _warm(self) -> None:
        # A failure is logged by get(), which tries again on first use.
        with contextlib.suppress(Exception):
            self.get()

    def reset(self) -> T | None:
        """Forget the built component (closing it is the caller's); returns it."""
        with self._lock:
            value, self._value = self._value, None
            self._thread = None
            return value


def ready(value: T, name: str = "component") -> Resource[T]:
    """A resource that is already built (tests, and components that are cheap to make)."""
    resource: Resource[T] = Resource(name, lambda: value)
    resource.get()
    return resource
