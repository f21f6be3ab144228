"""One OpenAI-compatible backend (vLLM, llama.cpp, a hosted API) behind ``AsyncOpenAI``.

Transient failures (connection refused, timeouts, 408/429/5xx) are retried on the same
backend with exponential backoff, then reported as :class:`BackendUnavailable` so the
router can move on. A request the backend refuses (400, 413, 422: e.g. a prompt over the
context size) is never retried: :class:`LlmRequestRejected`. A backend that is misconfigured
(401, 403, 404: wrong key, unknown model) counts as unavailable without retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import openai

from core.errors import Component, InvalidInput, UpstreamUnavailable
from core.settings_llm import LlmBackendSettings
from llm import telemetry

log = logging.getLogger(__name__)

Message = dict[str, str]  # {"role": "system" | "user" | "assistant", "content": ...}

REJECTED_STATUSES = frozenset({400, 413, 422})
MAX_BACKOFF_S = 5.0


class BackendUnavailable(UpstreamUnavailable):
    """This backend failed (down, slow, overloaded, misconfigured) before any output."""

    component = Component.ANSWER_MODEL


class LlmRequestRejected(InvalidInput):
    """The backend refused the request itself (e.g. the prompt is over its context size)."""


class StreamInterrupted(UpstreamUnavailable):
    """The backend failed after part of the answer was already streamed."""

    component = Component.ANSWER_MODEL


class MalformedReply(Exception):
    """A 200 whose body is not a chat completion (an HTML error page from a proxy, JSON
    that does not parse, an event stream that ends before any answer): transient, as a
    5xx is (a proxy in front of a restarting backend sends exactly that)."""


# What the OpenAI library and our reading of its objects raise on such a body: it parses
# JSON only when asked, returns the raw text for a non-JSON content type, and builds its
# objects without validation (a missing field is an AttributeError on first use).
_MALFORMED = (ValueError, TypeError, AttributeError, IndexError, KeyError)
_BAD_BODY = (MalformedReply, *_MALFORMED)


@dataclass(frozen=True)
class Completion:
    text: str
    backend: str
    model: str
    finish_reason: str | None  # "stop", "length" (cut at max_tokens)…
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


@dataclass(frozen=True)
class StreamStart:
    """First event of a stream: who answers. Sent once the first token has arrived."""

    backend: str
    model: str


@dataclass(frozen=True)
class TextDelta:
    text: str


@dataclass(frozen=True)
class StreamEnd:
    finish_reason: str | None
    # The backend's own token counts (None where it sends none); not part of equality, so a
    # stream compares by what it said and why it stopped.
    prompt_tokens: int | None = field(default=None, compare=False)
    completion_tokens: int | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Sampling:
    """What a caller may tune beyond ``max_tokens``/``temperature``/``stop``; None: the
    backend's default. Backends that do not know ``seed`` ignore it."""

    top_p: float | None = None
    seed: int | None = None


StreamEvent = StreamStart | TextDelta | StreamEnd


class LlmClient:
    """Chat completions against one backend, with its own timeouts and retry policy."""

    def __init__(self, settings: LlmBackendSettings) -> None:
        self.settings = settings
        self.name = settings.name
        self.model = settings.model
        telemetry.registered(self.name)
        timeout = httpx.Timeout(settings.read_timeout_s, connect=settings.connect_timeout_s)
        self._openai = openai.AsyncOpenAI(
            base_url=settings.base_url,
            # The library refuses an empty key; local servers ignore it.
            api_key=settings.api_key or "unused",
            timeout=timeout,
            max_retries=0,  # our own loop below: it knows when to give up and fall over
        )

    async def complete(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
        sampling: Sampling | None = None,
    ) -> Completion:
        watch = telemetry.CallWatch(self.name, "complete", self.model)
        try:
            completion = await self._complete(messages, max_tokens, temperature, stop, sampling)
        except BaseException as exc:
            watch.failed(_error_kind(exc), exc)
            raise
        watch.finished(completion.prompt_tokens, completion.completion_tokens)
        return completion

    async def _complete(
        self,
        messages: Sequence[Message],
        max_tokens: int | None,
        temperature: float,
        stop: Sequence[str] | None,
        sampling: Sampling | None,
    ) -> Completion:
        params = self._params(messages, max_tokens, temperature, stop, sampling)
        for attempt in self._attempts():
            try:
                response = await self._openai.chat.completions.create(**params)
                return self._completion(response)
            except (openai.OpenAIError, httpx.HTTPError) as exc:
                await self._handle_failure(exc, attempt)
            except _MALFORMED as exc:
                await self._handle_failure(_malformed(exc), attempt)
        raise AssertionError("unreachable: the last attempt raises")

    def _completion(self, response: Any) -> Completion:
        choice = response.choices[0]
        usage = response.usage
        return Completion(
            text=choice.message.content or "",
            backend=self.name,
            model=response.model or self.model,
            finish_reason=choice.finish_reason,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else None,
        )

    async def stream(
        self,
        messages: Sequence[Message],
        *,
        max_tokens: int | None = None,
        temperature: float = 0.0,
        stop: Sequence[str] | None = None,
        sampling: Sampling | None = None,
    ) -> AsyncIterator[StreamEvent]:
        """See ``_stream``; each event is also reported (``llm.telemetry``)."""
        watch = telemetry.CallWatch(self.name, "stream", self.model)
        events = self._stream(messages, max_tokens, temperature, stop, sampling)
        # aclosing: a caller that stops reading closes the backend's stream too.
        async with contextlib.aclosing(events):
            try:
                async for event in events:
                    if isinstance(event, StreamStart):
                        watch.first_token()
                    elif isinstance(event, StreamEnd):
                        watch.finished(event.prompt_tokens, event.completion_tokens)
                    yield event
            except (GeneratorExit, asyncio.CancelledError):
                watch.abandoned()
                raise
            except Exception as exc:
                watch.failed(_error_kind(exc), exc)
                raise

    async def _stream(
        self,
        messages: Sequence[Message],
        max_tokens: int | None,
        temperature: float,
        stop: Sequence[str] | None,
        sampling: Sampling | None,
    ) -> AsyncIterator[StreamEvent]:
        """``StreamStart``, then ``TextDelta``s, then ``StreamEnd``.

        Until the first token arrives, failures are retried and then raised as
        :class:`BackendUnavailable` (nothing was yielded: the caller may try elsewhere);
        after it, a failure raises :class:`StreamInterrupted`.
        """
        # include_usage: the backend's own token counts in a last chunk (vLLM, llama.cpp and
        # OpenAI send it; a backend that does not leaves them None).
        params = self._params(messages, max_tokens, temperature, stop, sampling) | {
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        for attempt in self._attempts():
            chunks = None
            try:
                # The read timeout alone would let SSE keep-alive pings hold a stalled
                # backend forever: the first token has a deadline of its own.
                async with asyncio.timeout(self.settings.read_timeout_s):
                    chunks = await self._openai.chat.completions.create(**params)
                    iterator = aiter(chunks)
                    first_text, finish = await _first_content(iterator)
            except (openai.OpenAIError, httpx.HTTPError, TimeoutError, *_BAD_BODY) as exc:
                if chunks is not None:
                    await chunks.close()
                await self._handle_failure(_malformed(exc), attempt)
                continue
            yield StreamStart(backend=self.name, model=self.model)
            async for event in self._rest(chunks, iterator, first_text, finish):
                yield event
            return

    async def _rest(
        self,
        chunks: openai.AsyncStream[Any],
        iterator: AsyncIterator[Any],
        first_text: str,
        finish: str | None,
    ) -> AsyncIterator[StreamEvent]:
        sent = len(first_text)
        usage = None
        # A backend that sends no usage chunk (llama-cpp-python's server) streams one token
        # per content chunk (a few merged where it checks a stop word): counted instead.
        pieces = 1 if first_text else 0
        try:
            if first_text:
                yield TextDelta(first_text)
            # Read to the end even after the finish reason: the usage chunk comes last.
            async for chunk in iterator:
                usage = getattr(chunk, "usage", None) or usage
                if not chunk.choices:
                    continue
                choice = chunk.choices[0]
                if choice.delta.content:
                    sent += len(choice.delta.content)
                    pieces += 1
                    yield TextDelta(choice.delta.content)
                if choice.finish_reason:
                    finish = choice.finish_reason
            if finish is None:
                # Every OpenAI-compatible server ends with a finish reason: a stream without
                # one was cut off (the connection closed mid-answer), not a short answer.
                raise MalformedReply("the stream ended without a finish reason")
        except (openai.OpenAIError, httpx.HTTPError, *_BAD_BODY) as exc:
            raise StreamInterrupted(
                f"LLM backend {self.name!r} failed after {sent} characters of the answer: "
                f"{_describe(_malformed(exc))}"
            ) from exc
        finally:
            await chunks.close()
        yield StreamEnd(
            finish_reason=finish,
            prompt_tokens=usage.prompt_tokens if usage else None,
            completion_tokens=usage.completion_tokens if usage else pieces or None,
        )

    def _params(
        self,
        messages: Sequence[Message],
        max_tokens: int | None,
        temperature: float,
        stop: Sequence[str] | None,
        sampling: Sampling | None,
    ) -> dict[str, Any]:
        # The backend's ``max_tokens`` is its ceiling: a caller may ask for fewer, never more.
        ceiling = self.settings.max_tokens
        params: dict[str, Any] = {
            "model": self.model,
            "messages": list(messages),
            "max_tokens": min(max_tokens, ceiling) if max_tokens else ceiling,
            "temperature": temperature,
        }
        if stop:
            params["stop"] = list(stop)
        if sampling is not None and sampling.top_p is not None:
            params["top_p"] = sampling.top_p
        if sampling is not None and sampling.seed is not None:
            params["seed"] = sampling.seed
        return params

    def _attempts(self) -> range:
        return range(self.settings.max_retries + 1)

    async def _handle_failure(self, exc: BaseException, attempt: int) -> None:
        """Sleep before the next attempt, or raise what the caller should see."""
        status = exc.status_code if isinstance(exc, openai.APIStatusError) else None
        if status in REJECTED_STATUSES:
            raise LlmRequestRejected(
                f"LLM backend {self.name!r} rejected the request ({status}): {_describe(exc)}"
            ) from exc
        if status is not None:
            transient = status in (408, 409, 429) or status >= 500
        else:  # no answer at all (refused, reset, timed out), or not an answer
            transient = isinstance(exc, openai.APIConnectionError | httpx.TransportError)
            transient = transient or isinstance(exc, TimeoutError | MalformedReply)
        if not transient or attempt >= self.settings.max_retries:
            raise BackendUnavailable(f"{self.name}: {_describe(exc)}") from exc
        delay = min(MAX_BACKOFF_S, self.settings.retry_backoff_s * 2**attempt)
        delay *= random.uniform(0.75, 1.25)  # several clients must not retry in step
        log.info("LLM backend %s: %s; retrying in %.2fs", self.name, _describe(exc), delay)
        telemetry.retried(self.name)
        await asyncio.sleep(delay)

    async def aclose(self) -> None:
        await self._openai.close()


async def _first_content(iterator: AsyncIterator[Any]) -> tuple[str, str | None]:
    """Read until the first non-empty text (or the end); role-only chunks come first."""
    async for chunk in iterator:
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        if choice.delta.content or choice.finish_reason:
            return choice.delta.content or "", choice.finish_reason
    # No text and no finish reason: not an empty answer (that ends with "stop"), but a body
    # with no events in it (an HTML page) or a stream cut off before its first token.
    raise MalformedReply("the reply held no answer")


def _malformed(exc: BaseException) -> BaseException:
    """``exc`` as the client classifies it: a parse failure of the body is a MalformedReply."""
    if isinstance(exc, _MALFORMED):
        wrapped = MalformedReply(f"{type(exc).__name__}: {str(exc)[:200]}")
        wrapped.__cause__ = exc
        return wrapped
    return exc


def _error_kind(exc: BaseException) -> str:
    if isinstance(exc, StreamInterrupted):
        return telemetry.INTERRUPTED
    if isinstance(exc, LlmRequestRejected):
        return telemetry.REJECTED
    if isinstance(exc, UpstreamUnavailable):
        return telemetry.UNAVAILABLE
    return telemetry.OTHER


def _describe(exc: BaseException) -> str:
    if isinstance(exc, MalformedReply):
        return f"malformed reply ({exc})"
    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException | TimeoutError):
        return "timed out"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        return f"connection failed ({type(cause).__name__ if cause else 'unknown'})"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {str(exc.message)[:300]}"
    return f"{type(exc).__name__}: {str(exc)[:300]}"
