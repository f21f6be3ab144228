"""A multipart part's file name as RFC 6266 reads it: ``filename*`` (RFC 5987:
``filename*=UTF-8''%E8%B5%84%E6%96%99.docx``) before ``filename``.

python-multipart drops every ``*`` parameter (RFC 7578 §4.2 asks form senders not to use
them), so a part named only by ``filename*`` was read as a text field, and one with both kept
the plain name, often a sender's ASCII stand-in ("____.docx"). Clients do send it (curl's
``--form-string``-built requests, HTTP libraries that encode every non-ASCII name this way),
and the name is the user's: it is taken, percent-decoded, exactly as sent.
"""

from __future__ import annotations

import codecs
import re
from urllib.parse import unquote_to_bytes

# ``key=value`` parameters after the disposition type; a quoted value may hold ``;``.
_PARAMETER = re.compile(rb';\s*([^\s=;]+)\s*=\s*("(?:[^"\\]|\\.)*"|[^;]*)', re.DOTALL)
# RFC 5987 ext-value: charset'language'value-chars (attr-char or %XX).
_EXT_VALUE = re.compile(
    rb"([A-Za-z0-9!#$%&+^_`{}~-]+)'([A-Za-z0-9-]*)'((?:[A-Za-z0-9!#$&+.^_`|~-]|%[0-9A-Fa-f]{2})*)"
)


# The charsets RFC 8187 (which updates RFC 5987) has every recipient read. Any other was
# looked up among Python's codecs, so a sender could pick a decoder: ``unicode_escape`` made
# NUL bytes and lone surrogates out of plain ASCII, ``punycode`` raised an error of its own.
_CHARSETS = frozenset({"utf-8", "iso8859-1"})


class BadExtendedName(ValueError):
    """A ``filename*`` that is not a readable RFC 5987 value."""


def _raw_extended_name(disposition: bytes) -> bytes | None:
    for key, value in _PARAMETER.findall(disposition):
        if key.lower() == b"filename*":
            # Not allowed quoted, but some senders quote it: the quotes are no part of it.
            return value.strip().strip(b'"')
    return None


def has_extended_name(disposition: bytes) -> bool:
    return _raw_extended_name(disposition) is not None


def extended_name(disposition: bytes) -> str | None:
    """The ``filename*`` of a Content-Disposition, decoded; None when it has none. Raises
    ``BadExtendedName`` for one that cannot be read (malformed, an unknown charset, bytes
    that are not of its charset): guessing would store a name the user never gave."""
    raw = _raw_extended_name(disposition)
    if raw is None:
        return None
    match = _EXT_VALUE.fullmatch(raw)
    if match is None:
        raise BadExtendedName("not charset'language'percent-encoded")
    charset, _, encoded = match.groups()
    try:
        codec = codecs.lookup(charset.decode("ascii")).name
        if codec not in _CHARSETS:
            raise LookupError(f"charset {codec} is not UTF-8 or ISO-8859-1")
        return unquote_to_bytes(encoded).decode(codec)
    except (LookupError, UnicodeError) as exc:
        raise BadExtendedName(str(exc)) from exc
