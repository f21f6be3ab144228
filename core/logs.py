"""Log set-up for every process (``zhiku serve``, ``zhiku worker``): text for a terminal, or
JSON (``ZHIKU_OBSERVABILITY__LOG_FORMAT=json``), one object a line, for a collector.

Every line carries the request id it was logged under (``core.request_context``), and, while
a trace is recorded, its trace and span ids. The filter sits on the handler, not on a logger:
a handler's filter sees every record that reaches it, including those propagated from the
libraries' loggers (uvicorn, Celery), so their lines carry the id too.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Literal

from core import request_context, tracing

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"
# Attributes every LogRecord has: anything else was passed in ``extra=`` and is kept.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "trace_id",
    "span_id",
}


class RequestIdFilter(logging.Filter):
    """Stamps the current request id (``-`` outside a request) and trace ids on each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_context.current() or "-"
        ids = tracing.current_ids()
        if ids is not None:
            record.trace_id, record.span_id = ids
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "process": record.process,
        }
        for key in ("trace_id", "span_id"):
            if hasattr(record, key):
                entry[key] = getattr(record, key)
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool) else repr(value)
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        # ensure_ascii off: Chinese file names and queries stay readable in the collector.
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(level: str, log_format: Literal["text", "json"] = "text") -> None:
    """The root logger's one handler, on standard error. Replaces handlers set before (a
    second call, e.g. by the worker after the CLI, must not print each line twice)."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
