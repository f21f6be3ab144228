"""The end of a streamed answer (``/v1/chat``, ``/v1/chat/completions``): once its status
line is sent, nothing can become an HTTP error any more, so a failure is a word in the stream
(``api.errors.stream_failure``) and the audit record is written, or its failure logged,
never raised: raised, it cut the connection as an "Exception in ASGI application", and the
client read a truncated stream with no reason."""

from __future__ import annotations

import logging

from services.answer_stream import AnswerStream
from services.answer_types import Final

log = logging.getLogger(__name__)


async def finish_logged(answer: AnswerStream, final: Final | None, error: str | None) -> None:
    """The answer's audit record (once; ``AnswerStream.finish``), its failure logged."""
    try:
        await answer.finish(final, error)
    except Exception:
        log.exception("a streamed answer's audit record could not be written")
