"""A parser library's exception → a reason a person can act on, in plain English.

Library messages name Python types, internal file paths and parts of the format ("There is no
item named 'word/document.xml' in the archive", "BadZipFile: Bad magic number for file
header"): useless to the person who uploaded the file and more than they should see of our
internals. Callers get one of a few plain reasons, chosen from the exception's type and known
messages (the exception and the chain of its causes); operators get the full exception in the
log (see ``ingest.parsing``).
"""

from __future__ import annotations

import re
import zipfile
import zlib

DAMAGED = "the file is damaged or incomplete (it may have been truncated or corrupted)"
NOT_THIS_FORMAT = "the content is not really a {format} file"
ENCRYPTED = "the file is password-protected or encrypted; remove the protection and upload it again"
UNSUPPORTED_VARIANT = (
    "the file uses a variant of the {format} format that is not supported "
    "(for example an unusual zip compression or a newer zip version); save it again as a "
    "standard {format} file"
)
TOO_COMPLEX = "the file is too large or too complex to parse within the limits"
UNREADABLE_TEXT = "the text is not in a readable encoding; save it as UTF-8"
UNKNOWN = "the file could not be read; it may be damaged or use an unsupported variant"

_ENCRYPTED = re.compile(r"password|encrypt|decrypt", re.IGNORECASE)
_UNSUPPORTED = re.compile(
    r"compression (method|type) .*not supported|zip file version|not supported|"
    r"unsupported|not implemented",
    re.IGNORECASE,
)
_TOO_COMPLEX = re.compile(r"too (large|big|complex|many|deep)|limit|huge", re.IGNORECASE)
_DAMAGED = re.compile(
    r"truncat|corrupt|bad magic|crc|unexpected end|end of (file|data)|premature|"
    r"invalid (block|distance|stored|code)|incorrect header|bad zip|damaged|"
    r"there is no item named|no such file in archive|xml|parse|syntax",
    re.IGNORECASE,
)
_NOT_THIS_FORMAT = re.compile(
    r"not a zip file|file is not a|package not found|not a valid|does not support file format|"
    r"content.?type|file type",
    re.IGNORECASE,
)


def plain_reason(exc: BaseException, file_format: str) -> str:
    """The reason to show for a parse of ``file_format`` (our format key) that raised ``exc``."""
    chain = list(_causes(exc))
    label = file_format.upper()
    text = " ".join(str(item) for item in chain)
    names = " ".join(type(item).__name__ for item in chain)
    if _ENCRYPTED.search(text) or _ENCRYPTED.search(names):
        return ENCRYPTED
    if any(isinstance(item, NotImplementedError) for item in chain) or _UNSUPPORTED.search(text):
        return UNSUPPORTED_VARIANT.format(format=label)
    if any(isinstance(item, RecursionError | OverflowError) for item in chain):
        return TOO_COMPLEX
    if any(isinstance(item, UnicodeError) for item in chain):
        return UNREADABLE_TEXT
    if _NOT_THIS_FORMAT.search(text) or _NOT_THIS_FORMAT.search(names):
        return NOT_THIS_FORMAT.format(format=label)
    if _TOO_COMPLEX.search(text):
        return TOO_COMPLEX
    damaged_types = (zipfile.BadZipFile, zlib.error, EOFError, KeyError)
    if any(isinstance(item, damaged_types) for item in chain) or _DAMAGED.search(
        text + " " + names
    ):
        return DAMAGED
    return UNKNOWN


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and the exceptions it was raised from or during, without cycles."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not item for item in seen) and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen
