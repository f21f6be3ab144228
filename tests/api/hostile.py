"""What the tests of hostile requests share (``tests/api/test_hostile_*.py``): the settings of
their server (PostgreSQL; a dead answer model, so a tenant with nothing to read is answered
"no context" without one; no rate limits, as they send hundreds of refusals a minute), and
helpers to build and read requests."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import func, select

from core.db.models import AnswerRecord
from core.db.session import transaction
from core.settings import Settings
from tests.live import ThreadServer
from tests.llm.backends import dead_backend
from tests.support import make_settings

ZH = {"Accept-Language": "zh-CN"}
TW = {"Accept-Language": "zh-TW"}
FORBIDDEN = ["\x00", "\x01", "\x08", "\x0b", "\x1b", "\x7f", "\ud800", "\udfff"]
JSON = {"Content-Type": "application/json"}
DOC = "00000000-0000-4000-8000-000000000000"


def hostile_settings(pg_url: str, data_dir: Path) -> Settings:
    return make_settings(
        data_dir,
        database={"url": pg_url},
        llm={"backends": [dead_backend("down")], "local": {"enabled": False}},
        limits={"max_upload_bytes": 100_000, "max_files_per_upload": 3},
        rate_limits={"enabled": False},
    )


def has_chinese(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def raw_json(body: object) -> bytes:
    """JSON as a client may send it: lone surrogates written as ``\\ud800`` escapes."""
    return json.dumps(body, ensure_ascii=True).encode()


def records(server: ThreadServer) -> int:
    with transaction(server.container.sessions) as session:
        return session.scalar(select(func.count()).select_from(AnswerRecord)) or 0


def completion(**fields: object) -> dict[str, object]:
    return {
        "model": "zhiku",
        "messages": [{"role": "user", "content": "报销期限是多久？"}],
        **fields,
    }


def multipart(disposition: bytes, data: bytes, charset: bytes | None = None) -> dict[str, object]:
    body = (
        b"--b\r\nContent-Disposition: form-data; " + disposition + b"\r\n\r\n" + data + b"\r\n"
        b"--b--\r\n"
    )
    kind = b"multipart/form-data; boundary=b" + (b"; charset=" + charset if charset else b"")
    return {"content": body, "headers": {"Content-Type": kind.decode("latin-1")}}
