"""The bounded text types every request schema uses (``Identifier``, ``Tag``, ``Query``…).

Each string and list a client sends is bounded, and none may carry a NUL, another control
character or a lone surrogate (PostgreSQL refuses them, and JSON cannot encode a surrogate).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BeforeValidator, StringConstraints

# Ids are UUIDs; a little room is left for other shapes, none for anything else.
ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$"
MAX_ID_CHARS = 64
# Paging: the database never sees an offset past int64, nor a scan this deep.
MAX_OFFSET = 1_000_000
MAX_QUERY_CHARS = 4000
MAX_TAG_CHARS = 100
MAX_FILE_TYPE_CHARS = 128

_FORBIDDEN = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
_SPACES = re.compile(r"\s+")
_LINE_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def has_control_characters(value: str) -> bool:
    """NUL, another control character (tab and line breaks aside) or a lone surrogate."""
    return _FORBIDDEN.search(value) is not None


def reject_control_characters(value: str) -> str:
    if has_control_characters(value):
        raise ValueError("must not contain NUL, control characters or lone surrogates")
    return value


def one_line(value: object) -> object:
    """Whitespace runs to one space, ends stripped: a query padded with megabytes of blanks
    is stored and echoed as the few words it holds."""
    return _SPACES.sub(" ", value).strip() if isinstance(value, str) else value


def tidy_paragraphs(value: object) -> object:
    """Like ``one_line`` within each line; at most one blank line between paragraphs."""
    if not isinstance(value, str):
        return value
    lines = (_LINE_SPACES.sub(" ", line).strip() for line in value.replace("\r", "\n").split("\n"))
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def representable_in_utc(value: datetime) -> datetime:
    """``value`` unchanged, if it has a UTC time: ``9999-12-31T23:59:59-23:59`` is valid ISO
    8601, but falls in the year 10000 in UTC, which a ``datetime`` cannot hold, so every
    comparison with a stored (UTC) moment raised ``OverflowError``: a 500."""
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time falls outside the years 1 to 9999 in UTC") from None
    return value


Identifier = Annotated[str, StringConstraints(max_length=MAX_ID_CHARS, pattern=ID_PATTERN)]
Query = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_QUERY_CHARS),
    BeforeValidator(one_line),
    AfterValidator(reject_control_characters),
]
Tag = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_TAG_CHARS),
    BeforeValidator(one_line),
    AfterValidator(reject_control_characters),
]
FileType = Annotated[
    str, StringConstraints(max_length=MAX_FILE_TYPE_CHARS, pattern=r"^[A-Za-z0-9.+/_-]+$")
]
# A moment a client sends: with its zone (a bare time is as likely local as UTC), and one
# that converts to UTC.
Moment = Annotated[AwareDatetime, AfterValidator(representable_in_utc)]
