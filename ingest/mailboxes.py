"""An mbox mailbox (Thunderbird's folders, ``mail``/``mutt``, Google Takeout) → one EML per message.

Each message becomes a document of its own, like an archive's member (its attachments are then
read as any e-mail's, :mod:`ingest.attachments`), named by its position and subject
("0003 季度预算.eml") so a search result says which message it came from. Messages are split at
``From `` lines, as Python's :mod:`mailbox` does; the ``>From `` quoting of mboxrd bodies is
undone. The member limit of archives applies.
"""

from __future__ import annotations

import email
import email.policy
import re
from pathlib import PurePosixPath

from ingest.archive_readers import Budget, Entry

MBOX_SUFFIXES = (".mbox", ".mbx")
_FROM_LINE = re.compile(rb"^From [^\r\n]*\r?\n", re.MULTILINE)
# The first line of an mbox: "From sender@example.com Mon Jan  1 00:00:00 2024" (the sender
# may be MAILER-DAEMON or "-"); a header line follows it.
_FIRST_LINE = re.compile(rb"^From \S+ +[^\r\n]*\d{4}\r?\n[\x21-\x39\x3b-\x7e]+:")
_QUOTED_FROM = re.compile(rb"^>(>*From )", re.MULTILINE)
_MAX_SUBJECT = 60


def is_mbox(data: bytes, filename: str) -> bool:
    """An mbox by its name (``.mbox``) or, without an extension, by its first lines."""
    suffix = PurePosixPath(filename.lower()).suffix
    if suffix in MBOX_SUFFIXES:
        return True
    return suffix == "" and bool(_FIRST_LINE.match(data[:2000]))


def split_mbox(data: bytes, budget: Budget) -> list[Entry]:
    """The mailbox's messages in order, each as EML bytes; empty stretches are skipped."""
    lines = list(_FROM_LINE.finditer(data))
    # No From_ line at all: a .mbox holding one message as it was saved.
    starts = [m.end() for m in lines] or [0]
    ends = [m.start() for m in lines[1:]] + [len(data)]
    out: list[Entry] = []
    for number, (start, end) in enumerate(zip(starts, ends, strict=False), start=1):
        raw = _QUOTED_FROM.sub(rb"\1", data[start:end]).strip(b"\r\n")
        if not raw:
            continue
        budget.add_members(1)
        out.append(Entry(f"{number:04d} {_subject(raw)}.eml", data=raw + b"\n"))
    return out


def _subject(raw: bytes) -> str:
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        subject = str(message.get("subject", "") or "")
    except Exception:  # a malformed header: the message is still kept, by number only
        subject = ""
    # A subject may hold anything; kept to what is a file name anywhere.
    subject = re.sub(r'[\x00-\x1f\x7f<>:"/\\|?*]+', " ", subject).strip(" .")
    return subject[:_MAX_SUBJECT].strip() or "message"
